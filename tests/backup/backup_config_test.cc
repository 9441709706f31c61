// dc-backup's --config file: every problem names the file, the line and the
// key; unknown keys are warnings.

#include "backup/backup_config.h"

#include <gtest/gtest.h>

namespace pgtandem::backup {
namespace {

TEST(BackupConfigTest, ReadsTheSettings) {
  auto c = parseBackupConfig("repo: /srv/repo\nstanza: main\npg_data: /var/lib/postgresql/15/main\n", "b.yml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->repo, "/srv/repo");
  EXPECT_EQ(c->stanza, "main");
  EXPECT_EQ(c->pg_data, "/var/lib/postgresql/15/main");
  EXPECT_TRUE(c->warnings.empty());
}

TEST(BackupConfigTest, ErrorsNameFileLineAndKey) {
  auto relative = parseBackupConfig("stanza: main\nrepo: srv/repo\n", "b.yml");
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.error().message.find("b.yml:2: repo: must be an absolute path"), std::string::npos)
      << relative.error().message;
  auto wrong_type = parseBackupConfig("repo: /srv/repo\nstanza: [a, b]\n", "b.yml");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.error().message.find("b.yml:2: stanza: must be a string"), std::string::npos)
      << wrong_type.error().message;
  auto not_yaml = parseBackupConfig("repo: /srv\n  stanza: [\n", "b.yml");
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_NE(not_yaml.error().message.find("b.yml:"), std::string::npos);
  EXPECT_FALSE(parseBackupConfig("- a\n", "b.yml").ok());
  EXPECT_NE(loadBackupConfig("/nonexistent/b.yml").error().message.find("/nonexistent/b.yml"), std::string::npos);
  auto method = parseBackupConfig("repo: /srv/repo\nstanza: main\nbackup_method: rsync\n", "b.yml");
  ASSERT_FALSE(method.ok());
  EXPECT_NE(method.error().message.find("b.yml:3: backup_method: 'rsync' is not copy or pg_basebackup"), std::string::npos)
      << method.error().message;
}

TEST(BackupConfigTest, RetentionAndTheStandbyDcsWhoseWalIsKept) {
  auto c = parseBackupConfig("repo: /srv/repo\nstanza: main\nretention_full: 2\nretention_window: 7d\n"
                             "keep_wal_for:\n  - name: dc2\n    etcd: [10.0.2.1:2379]\n    scope: main\n",
                             "b.yml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->retention_full, 2);
  EXPECT_EQ(c->retention_window, std::chrono::hours(24 * 7));
  ASSERT_EQ(c->keep_wal_for.size(), 1u);
  EXPECT_EQ(c->keep_wal_for[0].name, "dc2");
  EXPECT_EQ(c->keep_wal_for[0].namespace_, "/service/");
  auto window = parseBackupConfig("repo: /srv/repo\nstanza: main\nretention_window: a week\n", "b.yml");
  ASSERT_FALSE(window.ok());
  EXPECT_NE(window.error().message.find("b.yml:3: retention_window: 'a week' is not a duration"), std::string::npos)
      << window.error().message;
  auto standby = parseBackupConfig("repo: /srv/repo\nstanza: main\nkeep_wal_for:\n  - name: dc2\n    etcd: [x:1]\n",
                                   "b.yml");
  ASSERT_FALSE(standby.ok());
  EXPECT_NE(standby.error().message.find("keep_wal_for[0].scope: is required"), std::string::npos)
      << standby.error().message;
  EXPECT_FALSE(parseBackupConfig("repo: /srv/repo\nstanza: main\nretention_full: -1\n", "b.yml").ok());
  EXPECT_EQ(parseDuration("36h"), std::chrono::seconds(36 * 3600));
  EXPECT_EQ(parseDuration("90m"), std::chrono::seconds(5400));
  EXPECT_EQ(parseDuration("600"), std::chrono::seconds(600));
  EXPECT_FALSE(parseDuration("7w"));
  EXPECT_FALSE(parseDuration("d"));
}

TEST(BackupConfigTest, ThePgBasebackupMethod) {
  auto c = parseBackupConfig("repo: /srv/repo\nstanza: main\nbackup_method: pg_basebackup\npg_bin_dir: /opt/pg/bin\n",
                             "b.yml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->backup_method, BackupMethod::kPgBasebackup);
  EXPECT_EQ(c->pg_bin_dir, "/opt/pg/bin");
  EXPECT_EQ(parseBackupConfig("repo: /srv/repo\nstanza: main\n", "b.yml")->backup_method, BackupMethod::kCopy);
}

TEST(BackupConfigTest, UnknownKeysAreWarnings) {
  auto c = parseBackupConfig("repo: /srv/repo\nstanza: main\nrepo_path: x\n", "b.yml");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("b.yml:3: repo_path"), std::string::npos) << c->warnings[0];
}

}  // namespace
}  // namespace pgtandem::backup
