#pragma once
// A stanza: one PostgreSQL cluster's part of a repository, named by the
// user and bound to the cluster's system identifier. Layout:
//
//   <stanza>/stanza.info        {"system_identifier": "...", "pg_version": 15,
//   <stanza>/stanza.info.copy    "created": "...", "checksum": "<sha256>"}
//
// The checksum covers the rest of the object; either file may be read when
// the other is damaged.

#include <string>

#include "backup/repository.h"

namespace pgtandem::backup {

struct StanzaInfo {
  std::string system_identifier;
  int pg_version = 0;
  std::string created;  // ISO time

  bool operator==(const StanzaInfo&) const = default;
};

// The stanza name: letters, digits, '-' and '_', at most 64 characters.
Status checkStanzaName(const std::string& name);
// Creates the stanza; again with the same system identifier is success,
// with another is kConflict.
Status createStanza(Repository& repo, const std::string& stanza, const StanzaInfo& info);
// kNotFound when the stanza does not exist; kParse when both copies are bad.
Result<StanzaInfo> readStanza(Repository& repo, const std::string& stanza);

std::string serializeStanza(const StanzaInfo& info);
Result<StanzaInfo> parseStanza(const std::string& text);

}  // namespace pgtandem::backup
