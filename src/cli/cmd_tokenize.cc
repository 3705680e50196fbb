// rig tokenize PATH: JSON Lines of text on stdin -> one JSON array of ids per line on stdout,
// or with --decode, arrays of ids -> JSON strings.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json_guard.h"
#include "core/limits.h"
#include "tokenizer/tokenizer.h"

namespace rig::cli {
namespace {

namespace po = boost::program_options;
using nlohmann::json;

std::filesystem::path resolve_tokenizer(const std::filesystem::path& p) {
  if (std::filesystem::is_directory(p)) {
    auto f = p / "tokenizer.json";
    if (!std::filesystem::exists(f)) throw ModelError(p.string() + ": model directory has no tokenizer.json");
    return f;
  }
  if (!std::filesystem::exists(p)) throw ModelError(p.string() + ": no such tokenizer file or model directory");
  return p;
}

json parse_line(const std::string& line, size_t line_no) {
  if (auto deep = json_depth_error(line, limits::kJsonDepth))
    throw DataError("<stdin> line " + std::to_string(line_no) + ": not valid input: JSON " + *deep);
  try {
    return json::parse(line);
  } catch (const json::exception& e) {  // parse_error, or out_of_range (1e999)
    throw DataError("<stdin> line " + std::to_string(line_no) + ": not valid JSON: " + e.what());
  }
}

}  // namespace

int cmd_tokenize(const Args& args) {
  std::string path;
  po::options_description opts(
      "usage: rig tokenize PATH [--special] [--decode [--skip-special]]\n\n"
      "PATH is a tokenizer.json or a model directory holding one. Reads JSON Lines on stdin:\n"
      "one JSON string per line, writes one JSON array of ids per line (or, with --decode,\n"
      "reads arrays of ids and writes JSON strings)");
  opts.add_options()("help,h", "show this help")(
      "special", "add special tokens (e.g. BOS) as the tokenizer's post-processor says")(
      "decode", "decode: read arrays of ids, write JSON strings")(
      "skip-special", "with --decode: leave special tokens out of the text");
  po::options_description hidden;
  hidden.add_options()("path", po::value<std::string>(&path), "tokenizer.json or model directory");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string(e.what()) + " (see 'rig tokenize --help')");
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (path.empty()) throw ConfigError("missing PATH (a tokenizer.json or model directory; see 'rig tokenize --help')");
  const bool decode = vm.count("decode") > 0;
  const bool special = vm.count("special") > 0;
  const bool skip_special = vm.count("skip-special") > 0;
  if (decode && special) throw ConfigError("--special applies to encoding; with --decode use --skip-special");
  if (!decode && skip_special) throw ConfigError("--skip-special applies only with --decode");

  const Tokenizer tok = Tokenizer::from_file(resolve_tokenizer(path));
  std::ios::sync_with_stdio(false);
  std::string line;
  for (size_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const json in = parse_line(line, line_no);
    const std::string where = "<stdin> line " + std::to_string(line_no);
    if (!decode) {
      if (!in.is_string()) throw DataError(where + ": expected a JSON string, found " + in.type_name());
      Encoding enc;
      try {
        enc = tok.encode(in.get_ref<const std::string&>(), special);
      } catch (const DataError& e) {
        throw DataError(where + ": " + e.what());
      }
      std::cout << json(enc.ids).dump() << '\n';
    } else {
      if (!in.is_array()) throw DataError(where + ": expected a JSON array of ids, found " + in.type_name());
      std::vector<int64_t> ids;
      ids.reserve(in.size());
      for (const json& v : in) {
        if (!v.is_number_integer()) throw DataError(where + ": expected integer ids, found " + v.dump());
        ids.push_back(v.get<int64_t>());
      }
      std::string text;
      try {
        text = tok.decode(ids, skip_special);
      } catch (const DataError& e) {
        throw DataError(where + ": " + e.what());
      }
      std::cout << json(text).dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    }
    std::cout.flush();  // one answer per line, so that rig can be driven as a co-process
  }
  return kExitOk;
}

}  // namespace rig::cli
