// dcctl: the operator's command line for pgtandem clusters (patronictl's
// verbs). It reads the DCS directly and calls the members' REST APIs.
//   dcctl [-c FILE] [--dcs-url etcd3://host:port[,host:port][/namespace]] VERB [CLUSTER] [args]

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/config/etcd_options.h"
#include "common/util/log.h"
#include "ctl/backup_commands.h"
#include "ctl/commands.h"
#include "ctl/site_commands.h"

namespace {

using namespace pgtandem;

std::string defaultConfigPath() {
  if (const char* env = std::getenv("PGTANDEM_CONFIG"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home) {
    const std::string user = std::string(home) + "/.config/pgtandem/dcctl.yml";
    if (std::filesystem::exists(user)) return user;
  }
  return "/etc/pgtandem/dcctl.yml";
}

// etcd3://h1:2379,h2:2379/service -> hosts and namespace.
Status applyDcsUrl(const std::string& url, config::Config& c) {
  std::string rest = url;
  for (const char* scheme : {"etcd3://", "etcd://", "http://"}) {
    if (rest.rfind(scheme, 0) == 0) rest = rest.substr(std::string(scheme).size());
  }
  if (rest.empty()) return makeError(ErrorCode::kInvalidArgument, "--dcs-url: no host in '" + url + "'");
  const auto slash = rest.find('/');
  const std::string hosts = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) c.namespace_ = "/" + rest.substr(slash + 1) + "/";
  c.etcd.hosts.clear();
  for (std::size_t start = 0; start <= hosts.size();) {
    const auto comma = std::min(hosts.find(',', start), hosts.size());
    if (comma > start) c.etcd.hosts.push_back(hosts.substr(start, comma - start));
    start = comma + 1;
  }
  return okStatus();
}

struct SiteVerbs {
  const CLI::App* status = nullptr;
  const CLI::App* history = nullptr;
  const CLI::App* backups = nullptr;
  const CLI::App* switchover = nullptr;
  const CLI::App* promote = nullptr;
  const CLI::App* rejoin = nullptr;
  const CLI::App* init = nullptr;
  ctl::SiteOperationRequest request;
};

// The sites file, its warnings printed; nullopt (the error printed) when it is bad.
std::optional<coordinator::SitesConfig> sitesFile(std::string sites_file) {
  sites_file = coordinator::sitesFilePath(sites_file);
  auto sites = coordinator::loadSitesFile(sites_file);
  if (!sites.ok()) {
    std::cerr << "dcctl: " << sites.error().message << "\n";
    return std::nullopt;
  }
  for (const auto& w : sites->warnings) std::cerr << "dcctl: warning: " << w.toString() << "\n";
  return std::move(*sites);
}

int runSiteVerb(const std::string& sites_file, const std::string& format_text, const SiteVerbs& verbs) {
  auto sites = sitesFile(sites_file);
  if (!sites) return 2;
  auto format = ctl::parseFormat(format_text);
  if (!format.ok()) {
    std::cerr << "dcctl: " << format.error().message << "\n";
    return 2;
  }
  const coordinator::DcsFactory connect = coordinator::etcdDcsFactory();
  if (verbs.status->parsed()) return ctl::siteStatusCommand(*sites, connect, *format, std::cout, std::cerr);
  if (verbs.history->parsed()) return ctl::siteHistoryCommand(*sites, connect, *format, std::cout, std::cerr);
  if (verbs.backups->parsed()) return ctl::siteBackupsCommand(*sites, connect, *format, std::cout, std::cerr);
  ctl::SiteOperationRequest request = verbs.request;
  request.operation.verb = verbs.switchover->parsed() ? "switchover"
                 : verbs.promote->parsed()  ? "promote"
                 : verbs.init->parsed()     ? "init"
                                            : "rejoin";
  auto peers = coordinator::makeRealSitePeers();
  return ctl::siteOperationCommand(*sites, connect, *peers, request, std::cin, std::cout, std::cerr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dcctl: operate pgtandem clusters (patronictl's verbs)"};
  app.require_subcommand(1);
  std::string config_file, dcs_url;
  app.add_option("-c,--config", config_file, "dc-agent (patroni.yml) or dcctl configuration; default $PGTANDEM_CONFIG");
  app.add_option("-d,--dcs-url", dcs_url, "etcd3://HOST:PORT[,HOST:PORT][/NAMESPACE]");
  // The REST API over https (ctl.* in the configuration). Credentials come
  // from ctl.authentication, else restapi.authentication.
  bool insecure = false;
  std::string cacert, cert, key;
  app.add_flag("-k,--insecure", insecure, "do not verify the REST API's certificate");
  app.add_option("--cacert", cacert, "CA file for the REST API's certificate");
  app.add_option("--cert", cert, "client certificate for the REST API");
  app.add_option("--key", key, "client key for the REST API");

  std::string scope, format_text = "pretty", leader, candidate, scheduled, role = "any", pg_version, member;
  std::vector<std::string> members;
  bool force = false, extended = false, wait = false, pending = false, from_leader = false;
  double watch = 0;
  int watch_rounds = 0;
  ctl::EditOptions edit;

  auto cluster_arg = [&](CLI::App* sub) { sub->add_option("cluster", scope, "the cluster's scope (default: from the configuration)"); };
  auto force_flag = [&](CLI::App* sub) { sub->add_flag("--force", force, "do not ask for confirmation"); };
  auto format_opt = [&](CLI::App* sub) { sub->add_option("-f,--format", format_text, "pretty, json, yaml or tsv"); };

  auto* list = app.add_subcommand("list", "the members and their state");
  cluster_arg(list);
  format_opt(list);
  list->add_flag("-e,--extended", extended, "always show pending restart, scheduled restart and tags");
  list->add_flag_callback("-W", [&] { watch = 2; }, "refresh every 2 seconds");
  list->add_option("-w,--watch", watch, "refresh every SEC seconds");
  list->add_option("--watch-rounds", watch_rounds, "stop after N refreshes")->group("");
  auto* topology = app.add_subcommand("topology", "the members as a replication tree");
  cluster_arg(topology);
  format_opt(topology);
  topology->add_option("-w,--watch", watch, "refresh every SEC seconds");
  topology->add_option("--watch-rounds", watch_rounds, "stop after N refreshes")->group("");
  auto* history = app.add_subcommand("history", "the timeline history");
  cluster_arg(history);
  format_opt(history);
  auto* show_config = app.add_subcommand("show-config", "the dynamic configuration (YAML)");
  cluster_arg(show_config);

  auto* switchover = app.add_subcommand("switchover", "hand the leader role to another member");
  cluster_arg(switchover);
  switchover->add_option("--leader,--primary", leader, "the current leader");
  switchover->add_option("--candidate", candidate, "the member to promote");
  switchover->add_option("--scheduled", scheduled, "when (ISO 8601 with timezone), or now");
  force_flag(switchover);
  auto* failover = app.add_subcommand("failover", "promote a named member");
  cluster_arg(failover);
  failover->add_option("--candidate", candidate, "the member to promote");
  force_flag(failover);

  // CLUSTER [MEMBER...] [-r ROLE] [--force]
  auto member_args = [&](CLI::App* sub, bool with_role) {
    sub->add_option("cluster", scope, "the cluster's scope");
    sub->add_option("members", members, with_role ? "members (default: all)" : "members");
    if (with_role) sub->add_option("-r,--role", role, "leader, primary, standby-leader, replica, standby or any");
    force_flag(sub);
  };
  auto* restart = app.add_subcommand("restart", "restart PostgreSQL on members");
  member_args(restart, true);
  restart->add_flag("--pending", pending, "only members with a pending restart");
  restart->add_option("--scheduled", scheduled, "when (ISO 8601 with timezone)");
  restart->add_option("--pg-version", pg_version, "only members running an older PostgreSQL");
  auto* reload = app.add_subcommand("reload", "reload the configuration of members");
  member_args(reload, true);
  auto* reinit = app.add_subcommand("reinit", "wipe members and clone them again");
  member_args(reinit, false);
  reinit->add_flag("--wait", wait, "wait until they are running again");
  reinit->add_flag("--from-leader", from_leader, "clone from the leader, not a clonefrom member");

  std::string flush_what;
  auto* flush = app.add_subcommand("flush", "cancel a scheduled switchover or scheduled restarts");
  flush->add_option("cluster", scope, "the cluster's scope")->required();
  flush->add_option("what", flush_what, "restart or switchover")->required();
  flush->add_option("members", members, "members (restart; default: all)");
  flush->add_option("-r,--role", role, "leader, primary, standby-leader, replica, standby or any");
  force_flag(flush);
  auto* pause = app.add_subcommand("pause", "maintenance mode: no automatic failover");
  cluster_arg(pause);
  pause->add_flag("--wait", wait, "wait until every member recognizes it");
  auto* resume = app.add_subcommand("resume", "leave maintenance mode");
  cluster_arg(resume);
  resume->add_flag("--wait", wait, "wait until every member recognizes it");

  auto* edit_config = app.add_subcommand("edit-config", "change the dynamic configuration");
  cluster_arg(edit_config);
  edit_config->add_option("-s,--set", edit.sets, "key.path=value");
  edit_config->add_option("-p,--pg", edit.pg_sets, "postgresql parameter=value");
  edit_config->add_option("--apply", edit.apply_file, "merge a YAML file ('-': stdin)");
  edit_config->add_option("--replace", edit.replace_file, "replace with a YAML file ('-': stdin)");
  edit_config->add_flag("-q,--quiet", edit.quiet, "do not show the diff");
  force_flag(edit_config);

  auto* remove = app.add_subcommand("remove", "delete the cluster's keys from the DCS (asks three times)");
  cluster_arg(remove);
  auto* dsn = app.add_subcommand("dsn", "a libpq connection string to a member");
  cluster_arg(dsn);
  // Which member dsn and query talk to.
  auto target_args = [](CLI::App* sub, std::string& target_role, std::string& target_member) {
    sub->add_option("-r,--role", target_role, "leader (default) or replica");
    sub->add_option("-m,--member", target_member, "a member by name");
  };
  target_args(dsn, role, member);
  ctl::QueryOptions query_options;
  auto* query = app.add_subcommand("query", "run SQL on a member");
  cluster_arg(query);
  query->add_option("--format", format_text, "pretty, json, yaml or tsv");  // -f is the file, as in patronictl
  target_args(query, query_options.role, query_options.member);
  query->add_option("-d,--dbname", query_options.dbname, "database (default postgres)");
  query->add_option("-U,--username", query_options.username, "user (default: the superuser of the configuration)");
  query->add_flag("--password", query_options.ask_password, "ask for the password");
  query->add_option("-c,--command", query_options.sql, "SQL to run");
  query->add_option("-f,--file", query_options.file, "a file of SQL ('-': stdin)");
  auto* version = app.add_subcommand("version", "dcctl's version, and with a cluster its members' pgtandem and PostgreSQL versions");
  version->add_option("cluster", scope, "the cluster's scope");
  version->add_option("members", members, "members (default: all)");
  // Site verbs: both DCs, from the sites file (not a member's configuration).
  std::string sites_file;
  auto* site = app.add_subcommand("site", "both data centers (coordinator verbs)");
  site->require_subcommand(1);
  site->add_option("-s,--sites", sites_file, "the sites file; default $PGTANDEM_SITES, else /etc/pgtandem/sites.yml");
  auto* site_status = site->add_subcommand("status", "both DCs: roles, leaders, timelines, lag, epoch, operation");
  format_opt(site_status);
  SiteVerbs site_verbs;
  site_verbs.status = site_status;
  auto* site_history = site->add_subcommand("history", "past site operations of both DCs, with timings and results");
  format_opt(site_history);
  site_verbs.history = site_history;
  auto* site_backups = site->add_subcommand("backups", "the scheduled backups and drills both DCs recorded, and when each is due next");
  format_opt(site_backups);
  site_verbs.backups = site_backups;
  auto* site_switchover = site->add_subcommand("switchover", "planned DC switchover: no write lost, the old DC becomes a standby");
  site_switchover->add_option("--to", site_verbs.request.operation.site, "the standby DC to make primary")->required();
  site_switchover->add_flag("--force", site_verbs.request.force, "do not ask for confirmation");
  site_verbs.switchover = site_switchover;
  auto* site_promote = site->add_subcommand("promote", "disaster: make the standby DC primary while the other is down");
  site_promote->add_option("site", site_verbs.request.operation.site, "the standby DC to promote")->required();
  site_promote->add_flag("--force", site_verbs.request.force, "do not ask for confirmation");
  site_promote->add_flag("--while-primary-runs", site_verbs.request.operation.promote.while_primary_runs,
                         "promote even though the other DC's primary answers (it is fenced)");
  site_promote->add_flag("--without-site-keys", site_verbs.request.operation.promote.without_site_keys,
                         "promote although `site init` never ran: you keep the other DC's agents stopped until `site rejoin`");
  site_verbs.promote = site_promote;
  auto* site_rejoin = site->add_subcommand("rejoin", "after a disaster: the superseded DC becomes a standby of the other");
  site_rejoin->add_option("site", site_verbs.request.operation.site, "the DC to rejoin")->required();
  site_rejoin->add_flag("--force", site_verbs.request.force, "do not ask for confirmation");
  site_verbs.rejoin = site_rejoin;
  site_verbs.init = site->add_subcommand("init", "write both DCs' site keys (role, epoch, the other DC's address) if missing");

  // The rolling minor upgrade of both DCs (issue 19): the plan so far.
  auto* upgrade = app.add_subcommand("upgrade", "rolling minor upgrade of both DCs: plan");
  upgrade->require_subcommand(1);
  upgrade->add_option("-s,--sites", sites_file, "the sites file; default $PGTANDEM_SITES, else /etc/pgtandem/sites.yml");
  std::string upgrade_target;
  auto* upgrade_plan = upgrade->add_subcommand("plan", "the members in the order they would be upgraded, or why not; changes nothing");
  upgrade_plan->add_option("--to", upgrade_target, "the target version, e.g. 15.20")->required();

  // Backup verbs: a dc-backup configuration's repository; dump reads the cluster.
  auto* backup_verb = app.add_subcommand("backup", "backups: list, info, create, verify, restore, expire, drill, dump");
  backup_verb->require_subcommand(1);
  ctl::BackupRequest backup_request;
  backup_verb->add_option("-b,--backup-config", backup_request.config_file,
                          "the dc-backup configuration; default $PGTANDEM_BACKUP_CONFIG, else /etc/pgtandem/dc-backup.yml");
  backup_verb->add_option("--repo", backup_request.flags.repo, "the repository (over the configuration's)");
  backup_verb->add_option("--stanza", backup_request.flags.stanza, "the stanza (over the configuration's)");
  auto* backup_list = backup_verb->add_subcommand("list", "the backups, oldest first");
  format_opt(backup_list);
  backup_verb->add_subcommand("info", "the stanza, its backups and the last drill");
  auto* backup_create = backup_verb->add_subcommand("create", "take a backup of the member on this host (a replica)");
  backup_create->add_option("--type", backup_request.type, "full (default), diff or incr");
  backup_create->add_option("--method", backup_request.method, "copy or pg_basebackup");
  backup_create->add_option("--pg-data", backup_request.flags.pg_data, "the member's data directory");
  backup_create->add_option("--pg-host", backup_request.flags.pg_host, "its host or socket directory");
  backup_create->add_option("--pg-port", backup_request.flags.pg_port, "its port");
  backup_create->add_flag("--allow-primary", backup_request.flags.allow_primary, "even when it is the primary");
  backup_verb->add_subcommand("verify", "read every backup and archived file back; name damage and gaps");
  auto* backup_restore = backup_verb->add_subcommand("restore", "restore a backup into an empty directory");
  backup_restore->add_option("--to", backup_request.restore.to, "the directory")->required();
  backup_restore->add_option("--set", backup_request.restore.label, "the backup (default: the newest that fits)");
  backup_restore->add_option("--target-time", backup_request.restore.time, "recover up to this time");
  backup_restore->add_option("--target-lsn", backup_request.restore.lsn, "recover up to this LSN");
  backup_restore->add_option("--target-action", backup_request.restore.action, "promote, pause or shutdown");
  auto* backup_expire = backup_verb->add_subcommand("expire", "remove what retention no longer needs");
  backup_expire->add_flag("--dry-run", backup_request.dry_run, "print what would go");
  auto* backup_drill = backup_verb->add_subcommand("drill", "restore the newest backup into a scratch directory, start it, check it");
  backup_drill->add_option("--set", backup_request.drill.label, "the backup to drill (default: the newest)");
  backup_drill->add_option("--scratch", backup_request.drill.scratch, "where to restore");
  ctl::DumpOptions dump_options;
  auto* backup_dump = backup_verb->add_subcommand("dump", "a logical dump from a replica: globals and pg_dump -Fd per database");
  backup_dump->add_option("cluster", dump_options.scope, "the cluster's scope (default: from the configuration)");
  backup_dump->add_option("--to", dump_options.to, "a new or empty directory")->required();
  backup_dump->add_option("-j,--jobs", dump_options.jobs, "pg_dump's parallel jobs (default 2)")->check(CLI::Range(1, 64));
  backup_dump->add_option("-m,--member", dump_options.member, "the member (default: the replica that replayed the most)");
  backup_dump->add_flag("--allow-primary", dump_options.allow_primary, "dump the leader when no replica runs");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::err);  // only the answer on stdout, reasons on stderr

  if (version->parsed() && scope.empty()) {
    std::cout << "dcctl version " << ctl::kDcctlVersion << "\n";
    return 0;
  }
  if (site->parsed()) return runSiteVerb(sites_file, format_text, site_verbs);
  if (upgrade_plan->parsed()) {
    auto sites = sitesFile(sites_file);
    if (!sites) return 2;
    return ctl::upgradePlanCommand(*sites, coordinator::etcdDcsFactory(), upgrade_target, std::cout, std::cerr);
  }
  if (backup_verb->parsed() && !backup_dump->parsed()) {
    backup_request.verb = backup_verb->get_subcommands().front()->get_name();
    if (backup_request.config_file.empty()) {
      const char* env = std::getenv("PGTANDEM_BACKUP_CONFIG");
      backup_request.config_file = env && *env ? env : "/etc/pgtandem/dc-backup.yml";
      if (!backup_request.flags.repo.empty() && !std::filesystem::exists(backup_request.config_file)) {
        backup_request.config_file.clear();  // --repo and --stanza alone
      }
    }
    auto backup_format = ctl::parseFormat(format_text);
    if (!backup_format.ok()) {
      std::cerr << "dcctl: " << backup_format.error().message << "\n";
      return 2;
    }
    return ctl::backupCommand(backup_request, *backup_format, std::cout, std::cerr);
  }
  // A configuration file if there is one; the PATRONI_* environment applies
  // either way (etcd credentials, for example).
  const std::string path = config_file.empty() ? defaultConfigPath() : config_file;
  const bool use_file = !config_file.empty() || std::filesystem::exists(path) || dcs_url.empty();
  auto loaded = use_file ? config::loadConfigFile(path, config::processEnvironment(), config::ConfigPurpose::kClient)
                         : config::parseConfig("{}", "(no configuration file)", config::processEnvironment(),
                                               config::ConfigPurpose::kClient);
  if (!loaded.ok()) {
    std::cerr << "dcctl: " << loaded.error().message << "\n";
    return 2;
  }
  config::Config config = loaded->config;
  if (insecure) config.ctl.insecure = true;
  if (!cacert.empty()) config.ctl.cacert = cacert;
  if (!cert.empty()) config.ctl.certfile = cert;
  if (!key.empty()) config.ctl.keyfile = key;
  if (!dcs_url.empty()) {
    if (auto applied = applyDcsUrl(dcs_url, config); !applied.ok()) {
      std::cerr << "dcctl: " << applied.error().message << "\n";
      return 2;
    }
  }
  if (config.namespace_.empty()) config.namespace_ = "/service/";
  if (config.etcd.hosts.empty()) {
    std::cerr << "dcctl: no etcd hosts: give --dcs-url or a configuration with etcd3.hosts\n";
    return 2;
  }
  auto format = ctl::parseFormat(format_text);
  if (!format.ok()) {
    std::cerr << "dcctl: " << format.error().message << "\n";
    return 2;
  }
  auto client = dcs::EtcdDcs::create(config::etcdOptions(config.etcd, std::chrono::seconds(3)));
  if (!client.ok()) {
    std::cerr << "dcctl: cannot use etcd: " << client.error().message << "\n";
    return 2;
  }
  ctl::Context ctx(config, std::move(*client), ctl::Terminal{std::cin, std::cout, std::cerr});
  ctx.force = force;
  const ctl::ListOptions list_options{scope, *format, extended, watch, watch_rounds};
  const ctl::MemberSelection selection{scope, members, role};
  if (version->parsed()) return ctl::versionCommand(ctx, selection);
  if (list->parsed()) return ctl::listCommand(ctx, list_options);
  if (topology->parsed()) return ctl::topologyCommand(ctx, list_options);
  if (history->parsed()) return ctl::historyCommand(ctx, scope, *format);
  if (show_config->parsed()) return ctl::showConfigCommand(ctx, scope);
  if (switchover->parsed()) return ctl::switchoverCommand(ctx, scope, leader, candidate, scheduled);
  if (failover->parsed()) return ctl::failoverCommand(ctx, scope, candidate);
  if (restart->parsed()) return ctl::restartCommand(ctx, selection, {pending, scheduled, pg_version});
  if (reload->parsed()) return ctl::reloadCommand(ctx, selection);
  if (reinit->parsed()) return ctl::reinitCommand(ctx, selection, wait, from_leader);
  if (flush->parsed()) return ctl::flushCommand(ctx, selection, flush_what);
  if (pause->parsed()) return ctl::pauseCommand(ctx, scope, true, wait);
  if (resume->parsed()) return ctl::pauseCommand(ctx, scope, false, wait);
  if (edit_config->parsed()) return ctl::editConfigCommand(ctx, scope, edit);
  if (remove->parsed()) return ctl::removeCommand(ctx, scope);
  if (dsn->parsed()) return ctl::dsnCommand(ctx, scope, role, member);
  if (backup_dump->parsed()) return ctl::dumpCommand(ctx, dump_options);
  if (query->parsed()) {
    query_options.scope = scope;
    query_options.format = *format;
    return ctl::queryCommand(ctx, query_options);
  }
  return 2;
}
