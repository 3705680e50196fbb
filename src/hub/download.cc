#include "hub/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/sha256.h"

namespace rig::hub {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

// Bytes, total and rate of the file being fetched: a bar redrawn in place on a terminal,
// one line per file otherwise, nothing with --quiet.
class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}
  void start(const std::string& name, int64_t total, int64_t already) {
    name_ = name, total_ = total, done_ = already, start_bytes_ = already;
    t0_ = last_ = Clock::now();
    if (!quiet_ && tty_) draw();
  }
  void add(int64_t n) {
    done_ += n;
    if (quiet_ || !tty_) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    draw();
  }
  void restart_at(int64_t done) { done_ = start_bytes_ = done; }
  void note(const std::string& line) {
    if (quiet_) return;
    if (tty_) std::fputc('\n', stderr);
    std::fprintf(stderr, "rig pull: %s\n", line.c_str());
  }
  void finish() {
    if (quiet_) return;
    const double s = seconds();
    if (tty_) {
      draw();
      std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "rig pull: %s: %s in %.1f s (%s/s)%s\n", name_.c_str(), human_bytes(double(done_)).c_str(),
                   s, human_bytes(rate()).c_str(),
                   start_bytes_ > 0 ? (", resumed at " + human_bytes(double(start_bytes_))).c_str() : "");
    }
  }

 private:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  double rate() const { return seconds() > 0 ? double(done_ - start_bytes_) / seconds() : 0.0; }
  void draw() {
    const int width = 24;
    const int fill = total_ > 0 ? int(width * std::min(1.0, double(done_) / double(total_))) : 0;
    std::fprintf(stderr, "\r%-28.28s [%s%s] %9s / %-9s %9s/s", name_.c_str(), std::string(size_t(fill), '#').c_str(),
                 std::string(size_t(width - fill), ' ').c_str(), human_bytes(double(done_)).c_str(),
                 total_ >= 0 ? human_bytes(double(total_)).c_str() : "?", human_bytes(rate()).c_str());
    std::fflush(stderr);
  }
  bool quiet_, tty_;
  std::string name_;
  int64_t total_ = -1, done_ = 0, start_bytes_ = 0;
  Clock::time_point t0_, last_;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; of the last response
  std::string body;                            // the API's JSON, or an error page
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A failed transfer: curl's code and message, and errno of a failed write of ours.
struct TransferError {
  CURLcode code;
  std::string message;
  int write_errno;
};

// One libcurl easy handle, reused so that the connection to the hub is kept alive.
class Http {
 public:
  Http(const Env& env) : env_(env) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_) throw Error("libcurl: curl_easy_init failed");
  }
  ~Http() { curl_easy_cleanup(curl_); }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // Performs one request. `sink` receives a 2xx body (else it goes to Response::body);
  // returning false aborts the transfer (a failed write). Returns the curl error, if any.
  bool perform(const std::string& method, const std::string& url, bool follow, int64_t range_from,
               const std::function<bool(const Response&, const char*, size_t)>& sink, Response* resp,
               TransferError* err) {
    curl_easy_reset(curl_);
    State st{resp, &sink, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_slist* hdrs = nullptr;
    if (!env_.token.empty()) hdrs = curl_slist_append(hdrs, ("Authorization: Bearer " + env_.token).c_str());
    hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");  // sizes and hashes are of the bytes as stored
    const std::string range = "Range: bytes=" + std::to_string(range_from) + "-";
    if (range_from > 0) hdrs = curl_slist_append(hdrs, range.c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "rig (libcurl)");
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled connection (under 1 byte/s for 60 s) fails, and the download resumes.
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &Http::on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Http::on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &st);
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK) return true;
    err->code = rc;
    err->message = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!err->message.empty() && err->message.back() == '\n') err->message.pop_back();
    err->write_errno = st.write_errno;
    return false;
  }

 private:
  struct State {
    Response* resp;
    const std::function<bool(const Response&, const char*, size_t)>* sink;
    int write_errno;
  };
  static size_t on_header(char* p, size_t size, size_t n, void* user) {
    auto* st = static_cast<State*>(user);
    std::string line(p, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): forget the last
      st->resp->headers.clear();
      st->resp->body.clear();
      const auto sp = line.find(' ');
      st->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    } else if (const auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
      const auto b = value.find_first_not_of(" \t");
      st->resp->headers[name] = b == std::string::npos ? "" : value.substr(b);
    }
    return size * n;
  }
  static size_t on_body(char* p, size_t size, size_t n, void* user) {
    auto* st = static_cast<State*>(user);
    const size_t len = size * n;
    if (st->resp->status >= 200 && st->resp->status < 300 && *st->sink) {
      errno = 0;
      if (!(*st->sink)(*st->resp, p, len)) {
        st->write_errno = errno ? errno : EIO;
        return 0;  // CURLE_WRITE_ERROR
      }
      return len;
    }
    if (st->resp->body.size() < (64u << 20)) st->resp->body.append(p, len);
    return len;
  }

  const Env& env_;
  CURL* curl_;
};

std::string escape(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  while (!e.empty() && e.front() == '"') e.erase(e.begin());
  while (!e.empty() && e.back() == '"') e.pop_back();
  return e;
}

bool is_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

class Puller {
 public:
  explicit Puller(const PullOptions& o) : o_(o), http_(o.env), progress_(o.quiet) {
    repo_dir_ = o.env.cache_dir / repo_folder_name(o.repo);
  }

  PullResult run() {
    if (o_.env.offline) return from_cache();
    const std::string api =
        o_.env.endpoint + "/api/models/" + escape(o_.repo, true) + "/revision/" + escape(o_.revision, false);
    Response r = request("GET", api, true);
    if (r.status != 200) http_fail(r, "GET", api, "");
    nlohmann::json j;
    std::vector<std::string> siblings;
    try {
      j = nlohmann::json::parse(r.body);
      res_.commit = j.at("sha").get<std::string>();
      for (const auto& s : j.at("siblings")) siblings.push_back(s.at("rfilename").get<std::string>());
    } catch (const std::exception& e) {
      throw Error("GET " + api + ": expected the hub's JSON with 'sha' and 'siblings', got: " + r.body.substr(0, 200) +
                  " (" + e.what() + ")");
    }
    if (!is_commit_hash(res_.commit)) throw Error("GET " + api + ": 'sha' is not a commit hash: " + res_.commit);
    res_.snapshot = repo_dir_ / "snapshots" / res_.commit;
    const WantedFiles w = wanted_files(o_.repo, siblings);
    for (const auto& f : w.files) fetch(f);
    if (!w.index.empty()) {
      std::ifstream in(res_.snapshot / w.index);
      std::stringstream text;
      text << in.rdbuf();
      for (const auto& shard : index_shards(text.str(), (res_.snapshot / w.index).string())) fetch(shard);
    }
    // The ref last: until every file is in, the revision does not resolve to a partial snapshot.
    if (o_.revision != res_.commit) write_ref();
    return res_;
  }

 private:
  PullResult from_cache() {
    const fs::path snap = find_snapshot(o_.env.cache_dir, o_.repo, o_.revision);
    const std::string where = o_.repo + "@" + o_.revision;
    if (snap.empty())
      throw ModelError("HF_HUB_OFFLINE is set and " + where + " is not in the cache " + o_.env.cache_dir.string() +
                       ": unset HF_HUB_OFFLINE on a machine with network and run: " +
                       pull_command(o_.repo, o_.revision, o_.cache_dir_arg));
    const auto missing = missing_files(snap);
    if (!missing.empty())
      throw ModelError("HF_HUB_OFFLINE is set and the cached snapshot " + snap.string() + " lacks " + missing[0] +
                       (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "") +
                       ": unset HF_HUB_OFFLINE and run: " + pull_command(o_.repo, o_.revision, o_.cache_dir_arg));
    res_.snapshot = snap;
    res_.commit = snap.filename().string();
    progress_.note(where + " is in the cache (HF_HUB_OFFLINE): " + snap.string());
    return res_;
  }

  Response request(const std::string& method, const std::string& url, bool follow) {
    Response r;
    TransferError e{};
    if (!http_.perform(method, url, follow, 0, {}, &r, &e)) network_fail(method, url, e);
    return r;
  }

  [[noreturn]] void network_fail(const std::string& method, const std::string& url, const TransferError& e) {
    throw Error(method + " " + url + ": " + e.message + " (curl error " + std::to_string(int(e.code)) +
                "; for a mirror set HF_ENDPOINT, for no network set HF_HUB_OFFLINE=1)");
  }

  // 401/403/404 in words: which of model, revision or file, and what to do.
  [[noreturn]] void http_fail(const Response& r, const std::string& method, const std::string& url,
                              const std::string& file) {
    const std::string code = r.header("x-error-code");
    const std::string prefix = method + " " + url + ": HTTP " + std::to_string(r.status) + ": ";
    const std::string token_state = o_.env.token.empty()
                                        ? "HF_TOKEN is not set: set HF_TOKEN to a token that can read it "
                                          "(https://huggingface.co/settings/tokens)"
                                        : "HF_TOKEN is set, but the hub refused it for this model (a gated model needs "
                                          "its terms accepted on its page, with the account of that token)";
    if (r.status == 401 || r.status == 403) {
      if (code == "RepoNotFound")
        throw ConfigError(prefix + "model '" + o_.repo + "' was not found on " + o_.env.endpoint +
                          ", or it is private or gated; " + token_state);
      throw ConfigError(prefix + "model '" + o_.repo + "' needs authorization; " + token_state);
    }
    if (r.status == 404) {
      std::string what = code;
      if (what.empty() && file.empty()) {  // no error code: ask whether the model itself exists
        const std::string probe = o_.env.endpoint + "/api/models/" + escape(o_.repo, true);
        what = request("GET", probe, true).status == 404 ? "RepoNotFound" : "RevisionNotFound";
      }
      if (what == "RepoNotFound")
        throw ConfigError(prefix + "model '" + o_.repo + "' not found on " + o_.env.endpoint +
                          " (check the id; a private model needs HF_TOKEN)");
      if (what == "RevisionNotFound")
        throw ConfigError(prefix + "revision '" + o_.revision + "' of model " + o_.repo +
                          " not found (expected a branch, tag or commit hash of that model)");
      throw ModelError(prefix + "file '" + file + "' not found in " + o_.repo + " at commit " + res_.commit);
    }
    std::string body = r.body.substr(0, 300);
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    throw Error(prefix + (r.header("x-error-message").empty() ? body : r.header("x-error-message")));
  }

  void fetch(const std::string& file) {
    res_.files.push_back(file);
    const fs::path link = res_.snapshot / file;
    std::error_code ec;
    if (fs::is_regular_file(link, ec)) return;  // a commit's files never change: nothing to do
    const std::string url =
        o_.env.endpoint + "/" + escape(o_.repo, true) + "/resolve/" + res_.commit + "/" + escape(file, true);
    // HEAD without following the CDN redirect: the hub's own response carries the
    // X-Linked-* headers of LFS files. Relative redirects (a renamed repo) stay on the hub.
    Response head;
    std::string target = url;
    for (int hop = 0;; ++hop) {
      head = request("HEAD", target, false);
      const std::string loc = head.header("location");
      if (head.status >= 300 && head.status < 400 && !loc.empty() && loc[0] == '/' &&
          head.header("x-linked-etag").empty() && hop < 5) {
        const auto scheme = o_.env.endpoint.find("://");
        const auto host_end = o_.env.endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
        target = o_.env.endpoint.substr(0, host_end) + loc;
        continue;
      }
      break;
    }
    if (head.status >= 400) http_fail(head, "HEAD", target, file);
    const std::string etag =
        normalize_etag(!head.header("x-linked-etag").empty() ? head.header("x-linked-etag") : head.header("etag"));
    if (etag.empty() || etag.find('/') != std::string::npos || etag.find("..") != std::string::npos)
      throw Error("HEAD " + url + ": no usable ETag header (got '" + etag + "'): is HF_ENDPOINT a Hugging Face hub?");
    int64_t size = -1;
    const std::string size_text = !head.header("x-linked-size").empty()
                                      ? head.header("x-linked-size")
                                      : (head.status < 300 ? head.header("content-length") : "");
    if (!size_text.empty()) {
      char* end = nullptr;
      size = std::strtoll(size_text.c_str(), &end, 10);
      if (*end != '\0' || size < 0) throw Error("HEAD " + url + ": expected a size in bytes, got '" + size_text + "'");
    }
    const fs::path blob = repo_dir_ / "blobs" / etag;
    fs::create_directories(blob.parent_path());
    if (!fs::is_regular_file(blob, ec)) download(url, blob, etag, size, file);
    make_link(link, etag, file);
  }

  void download(const std::string& url, const fs::path& blob, const std::string& etag, int64_t size,
                const std::string& file) {
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) ::close(fd);
      }
    };
    // huggingface_hub's lock (CACHE/.locks/models--ORG--NAME/ETAG.lock, flock): one writer
    // per blob, whether rig (a SLURM array pulling at once) or Python; the others wait, then
    // find the blob there.
    const fs::path lock_path = o_.env.cache_dir / ".locks" / repo_folder_name(o_.repo) / (etag + ".lock");
    fs::create_directories(lock_path.parent_path());
    const Closer lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664)};
    if (lock.fd < 0) throw Error("creating " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
      progress_.note(file + ": another process is downloading it; waiting for " + lock_path.string());
      while (::flock(lock.fd, LOCK_EX) != 0)
        if (errno != EINTR) throw Error("locking " + lock_path.string() + ": " + std::strerror(errno));
    }
    std::error_code ec;
    if (fs::is_regular_file(blob, ec)) return;  // the other process finished it
    const fs::path part = blob.string() + ".incomplete";
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("creating " + part.string() + ": " + std::strerror(errno));
    const Closer closer{fd};
    struct stat sb {};
    ::fstat(fd, &sb);
    int64_t have = sb.st_size;
    const bool check = is_sha256(etag);
    Sha256 sha;
    if (size >= 0 && have > size) have = 0;
    if (have > 0 && check) {  // hash what an earlier run fetched; the rest follows
      std::ifstream in(part, std::ios::binary);
      std::vector<char> buf(1 << 20);
      int64_t left = have;
      while (left > 0 && in.read(buf.data(), std::streamsize(std::min<int64_t>(left, int64_t(buf.size())))))
        sha.update(buf.data(), size_t(in.gcount())), left -= in.gcount();
      if (left != 0) have = 0, sha.reset();
    }
    if (::ftruncate(fd, have) != 0 || ::lseek(fd, have, SEEK_SET) != have)
      throw Error("writing " + part.string() + ": " + std::strerror(errno));
    progress_.start(file, size, have);
    const int64_t resumed_from = have;
    for (int attempt = 1; size < 0 || have < size; ++attempt) {
      Response r;
      TransferError e{};
      bool first = true;
      auto sink = [&](const Response& resp, const char* p, size_t n) {
        if (first) {
          first = false;
          if (resp.status == 200 && have > 0) {  // the server ignored the Range: start over
            if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) return false;
            have = 0, sha.reset(), progress_.restart_at(0);
          }
        }
        for (size_t off = 0; off < n;) {
          const ssize_t w = ::write(fd, p + off, n - off);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return false;
          off += size_t(w);
        }
        if (check) sha.update(p, n);
        have += int64_t(n);
        progress_.add(int64_t(n));
        return true;
      };
      const bool ok = http_.perform("GET", url, true, have, sink, &r, &e);
      if (ok && r.status >= 400) http_fail(r, "GET", url, file);
      if (!ok && e.code == CURLE_WRITE_ERROR && e.write_errno) {
        const int en = e.write_errno;
        const off_t kept = ::lseek(fd, 0, SEEK_CUR);  // with the part of the last chunk that fit
        throw Error("writing " + part.string() + ": " + std::strerror(en) +
                    (en == EFBIG ? " (the file size limit, ulimit -f)" : "") + "; " + std::to_string(kept) +
                    " bytes of " + file + " are kept there: make room and run the same command again to resume");
      }
      if (ok && (size < 0 || have == size)) break;
      if (ok && have > size)
        throw Error("GET " + url + ": got " + std::to_string(have) + " bytes, expected " + std::to_string(size));
      const std::string why =
          ok ? "the server sent " + std::to_string(have) + " of " + std::to_string(size) + " bytes" : e.message;
      if (attempt >= o_.attempts)
        throw Error("GET " + url + ": " + why + " (after " + std::to_string(attempt) + " attempts; the " +
                    std::to_string(have) + " bytes fetched are kept in " + part.string() +
                    ": run the same command again to resume)");
      progress_.note(file + ": " + why + "; resuming at byte " + std::to_string(have) + " (attempt " +
                     std::to_string(attempt + 1) + " of " + std::to_string(o_.attempts) + ")");
    }
    if (::fsync(fd) != 0) throw Error("writing " + part.string() + ": " + std::strerror(errno));
    if (check) {
      const std::string got = sha.hex();
      if (got != etag) {
        fs::remove(part);
        throw ModelError(url + ": sha256 mismatch for " + file + ": the hub says " + etag + ", the " +
                         std::to_string(have) + " bytes received hash to " + got +
                         " (deleted; run the same command again, and if it persists the server or a proxy "
                         "is corrupting the file)");
      }
    }
    fs::rename(part, blob);
    progress_.finish();
    res_.files_fetched += 1;
    res_.bytes_fetched += have - resumed_from;
  }

  // snapshots/COMMIT/FILE -> ../../blobs/ETAG (one more ../ per directory in FILE), made
  // under a temporary name and renamed, so the link appears whole or not at all.
  void make_link(const fs::path& link, const std::string& etag, const std::string& file) {
    std::string target = "../../";
    for (char c : file)
      if (c == '/') target += "../";
    target += "blobs/" + etag;
    fs::create_directories(link.parent_path());
    const fs::path tmp = link.string() + ".rig-" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::create_symlink(target, tmp);
    fs::rename(tmp, link);
  }

  void write_ref() {
    const fs::path ref = repo_dir_ / "refs" / o_.revision;
    std::string current;
    {
      std::ifstream in(ref);
      if (in) std::getline(in, current);
    }
    if (current == res_.commit) return;
    fs::create_directories(ref.parent_path());
    const fs::path tmp = ref.string() + ".rig-" + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary);
      out << res_.commit;  // no newline, as huggingface_hub writes it
      if (!out.flush()) throw Error("writing " + tmp.string() + ": " + std::strerror(errno));
    }
    fs::rename(tmp, ref);
  }

  const PullOptions& o_;
  Http http_;
  Progress progress_;
  fs::path repo_dir_;
  PullResult res_;
};

}  // namespace

PullResult pull(const PullOptions& options) {
  check_repo_id(options.repo);
  check_revision(options.revision);
  return Puller(options).run();
}

}  // namespace rig::hub
