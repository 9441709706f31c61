#pragma once
// The repository's small JSON files (stanza.info, backup.manifest): each
// carries a SHA-256 of the rest of its object and is written twice, as
// `<path>` and `<path>.copy`, so that either can be read when the other is
// damaged. Boost.JSON stays inside backup/.

#include <boost/json/object.hpp>
#include <string>

#include "backup/repository.h"

namespace pgtandem::backup {

// The object's text with a "checksum" member over the rest.
std::string sealJson(boost::json::object object);
// The object, its checksum checked and removed; kParse otherwise.
Result<boost::json::object> unsealJson(const std::string& text);

Status writeInfoFile(Repository& repo, const std::string& path, const std::string& sealed_text);
// The first of `<path>`, `<path>.copy` that unseals; kNotFound when neither
// exists, kParse (naming both problems) when neither is good.
Result<boost::json::object> readInfoFile(Repository& repo, const std::string& path);

}  // namespace pgtandem::backup
