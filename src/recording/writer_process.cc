#include "recording/writer_process.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "recording/layout.h"

namespace rig {
namespace {

// ---- wire format: frames of [u32 type][u64 bytes][payload] ----

enum Frame : uint32_t {
  kBatch = 1,      // rig -> child: a batch of trials
  kReady = 2,      // child -> rig: the file is open; payload: committed trial indices
  kCommitted = 3,  // child -> rig: a batch is committed; payload: its trial indices
  kFailed = 4,     // child -> rig: payload: error kind (u32), message
  kClosed = 5,     // child -> rig: the file is closed
  kReleased = 6,   // child -> rig: the oldest batch in shared memory is written: reuse it
};

// A batch's rows are in the frame itself, not in shared memory.
constexpr uint64_t kInline = ~uint64_t(0);

class Out {
 public:
  void u32(uint32_t v) { raw(&v, sizeof v); }
  void i64(int64_t v) { raw(&v, sizeof v); }
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  const std::string& bytes() const { return buf_; }

 private:
  std::string buf_;
};

class In {
 public:
  explicit In(const std::string& b) : b_(b) {}
  uint32_t u32() { return get<uint32_t>(); }
  int64_t i64() { return get<int64_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  std::string str() {
    const uint64_t n = u64();
    need(n);
    std::string s = b_.substr(at_, n);
    at_ += n;
    return s;
  }

 private:
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  void need(uint64_t n) {
    if (n > b_.size() - at_) throw Error("recording writer process: a message is cut short");
  }
  const std::string& b_;
  size_t at_ = 0;
};

std::atomic<int64_t> g_peak_private_rss_kb{0};

// A "Name:   123 kB" line of /proc/self/status, in kB (-1 if absent).
int64_t status_kb(const char* name) {
  std::ifstream f("/proc/self/status");
  const std::string key = std::string(name) + ":";
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size()));
  return -1;
}

// Writes all of `iov` (sendmsg, no SIGPIPE); false when the peer is gone.
bool send_all(int fd, std::vector<iovec> iov) {
  size_t i = 0;
  while (i < iov.size()) {
    msghdr m{};
    m.msg_iov = iov.data() + i;
    m.msg_iovlen = std::min<size_t>(iov.size() - i, 1024);  // IOV_MAX
    const ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    for (size_t left = size_t(n); left > 0 && i < iov.size();) {
      if (left >= iov[i].iov_len) {
        left -= iov[i].iov_len;
        ++i;
      } else {
        iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
        iov[i].iov_len -= left;
        left = 0;
      }
    }
    while (i < iov.size() && iov[i].iov_len == 0) ++i;
  }
  return true;
}

bool send_frame(int fd, uint32_t type, const std::string& payload) {
  Out h;
  h.u32(type);
  h.u64(payload.size());
  return send_all(fd, {{const_cast<char*>(h.bytes().data()), h.bytes().size()},
                       {const_cast<char*>(payload.data()), payload.size()}});
}

// Reads exactly n bytes; false at the end of the stream (also in the middle of them).
bool recv_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t got = ::read(fd, c, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    c += got;
    n -= size_t(got);
  }
  return true;
}

bool recv_header(int fd, uint32_t* type, uint64_t* bytes) {
  char h[12];
  if (!recv_all(fd, h, sizeof h)) return false;
  std::memcpy(type, h, 4);
  std::memcpy(bytes, h + 4, 8);
  return true;
}

bool recv_payload(int fd, uint64_t bytes, std::string* out) {
  out->resize(bytes);
  return recv_all(fd, out->data(), bytes);
}

std::string encode_indices(const std::vector<int64_t>& v) {
  Out o;
  o.u64(v.size());
  for (int64_t i : v) o.i64(i);
  return o.bytes();
}

std::vector<int64_t> decode_indices(const std::string& b) {
  In in(b);
  std::vector<int64_t> v(in.u64());
  for (auto& i : v) i = in.i64();
  return v;
}

uint64_t recording_bytes(const std::vector<TrialResult>& batch) {
  uint64_t n = 0;
  for (const TrialResult& t : batch)
    for (const auto& r : t.recordings) n += r.size() * sizeof(float);
  return n;
}

// A trial but its recordings' floats (their sizes only): its /trials values in
// layout::kTrialColumns order (those the writer computes excepted), tokens, events.
void put_trial(Out& o, const TrialResult& t) {
  for (const auto& c : layout::kTrialColumns)
    std::visit(
        [&](auto m) {
          using M = decltype(m);
          if constexpr (std::is_same_v<M, int64_t TrialFields::*>) o.i64(t.*m);
          else if constexpr (std::is_same_v<M, uint64_t TrialFields::*>) o.u64(t.*m);
          else if constexpr (std::is_same_v<M, std::string TrialFields::*>) o.str(t.*m);
          else if constexpr (std::is_same_v<M, FinishReason TrialFields::*>) o.u32(uint32_t(t.*m));
          else static_assert(std::is_same_v<M, int64_t TrialSpan::*>, "a /trials member without an encoding");
        },
        c.member);
  o.u64(t.tokens.size());
  for (const TokenRow& k : t.tokens) {
    o.i64(k.position);
    o.i64(k.token_id);
    o.str(k.text);
    o.u32(k.generated ? 1 : 0);
  }
  o.u64(t.events.size());
  for (const auto& [name, row] : t.events) {
    o.str(name);
    o.i64(row);
  }
  o.u64(t.recordings.size());
  for (const auto& r : t.recordings) o.u64(r.size());
}

// put_trial's inverse; the recordings' sizes (floats) into *sizes.
void get_trial(In& in, TrialResult* t, std::vector<size_t>* sizes) {
  for (const auto& c : layout::kTrialColumns)
    std::visit(
        [&](auto m) {
          using M = decltype(m);
          if constexpr (std::is_same_v<M, int64_t TrialFields::*>) {
            t->*m = in.i64();
          } else if constexpr (std::is_same_v<M, uint64_t TrialFields::*>) {
            t->*m = in.u64();
          } else if constexpr (std::is_same_v<M, std::string TrialFields::*>) {
            t->*m = in.str();
          } else if constexpr (std::is_same_v<M, FinishReason TrialFields::*>) {
            const uint32_t r = in.u32();
            if (r > uint32_t(FinishReason::kEos)) throw Error("recording writer process: a message is damaged");
            t->*m = FinishReason(r);
          } else {
            static_assert(std::is_same_v<M, int64_t TrialSpan::*>, "a /trials member without a decoding");
          }
        },
        c.member);
  t->tokens.resize(in.u64());
  for (TokenRow& k : t->tokens) {
    k.position = in.i64();
    k.token_id = in.i64();
    k.text = in.str();
    k.generated = in.u32() != 0;
  }
  const uint64_t n_events = in.u64();
  for (uint64_t e = 0; e < n_events; ++e) {
    std::string name = in.str();
    t->events[name] = in.i64();
  }
  sizes->resize(in.u64());
  for (auto& n : *sizes) n = in.u64();
}

// A batch: everything but the recordings as one block; then every recording's floats as they
// lie in memory (trial by trial, electrode by electrode), either in the frame (sent without a
// copy in this process) or, when shared_at != kInline, copied to shared + shared_at.
void send_batch(int fd, const std::vector<TrialResult>& batch, char* shared, uint64_t shared_at) {
  Out o;
  o.u64(shared_at);
  o.u64(batch.size());
  uint64_t float_bytes = 0;
  for (const TrialResult& t : batch) {
    put_trial(o, t);
    for (const auto& r : t.recordings) float_bytes += r.size() * sizeof(float);
  }
  if (shared_at != kInline) {
    char* to = shared + shared_at;
    for (const TrialResult& t : batch)
      for (const auto& r : t.recordings) {
        if (!r.empty()) std::memcpy(to, r.data(), r.size() * sizeof(float));
        to += r.size() * sizeof(float);
      }
    float_bytes = 0;
  }
  Out h;
  h.u32(kBatch);
  h.u64(8 + o.bytes().size() + float_bytes);
  h.u64(o.bytes().size());
  std::vector<iovec> iov = {{const_cast<char*>(h.bytes().data()), h.bytes().size()},
                            {const_cast<char*>(o.bytes().data()), o.bytes().size()}};
  if (shared_at == kInline)
    for (const TrialResult& t : batch)
      for (const auto& r : t.recordings)
        if (!r.empty()) iov.push_back({const_cast<float*>(r.data()), r.size() * sizeof(float)});
  if (!send_all(fd, std::move(iov)))
    throw Error("recording writer process: it is gone (" + std::string(std::strerror(errno)) + ")");
}

// Reads a batch's payload (after the frame header); false at the end of the stream. Rows
// sent in the frame land in TrialResult::recordings; rows in shared memory stay there (the
// caller releases them once written). (*rows)[i][e]: trial i's rows from electrode e;
// (*sizes)[i][e]: their number of floats.
bool recv_batch(int fd, const char* shared, std::vector<TrialResult>* batch,
                std::vector<std::vector<const float*>>* rows, std::vector<std::vector<size_t>>* sizes,
                bool* from_shared) {
  uint64_t meta_bytes = 0;
  std::string meta;
  if (!recv_all(fd, &meta_bytes, sizeof meta_bytes) || !recv_payload(fd, meta_bytes, &meta)) return false;
  In in(meta);
  const uint64_t shared_at = in.u64();
  *from_shared = shared_at != kInline;
  batch->resize(in.u64());
  for (TrialResult& t : *batch) {
    sizes->emplace_back();
    get_trial(in, &t, &sizes->back());
  }
  rows->assign(batch->size(), {});
  if (*from_shared) {
    if (!shared) throw Error("recording writer process: a batch in shared memory, but none is mapped");
    const char* from = shared + shared_at;
    for (size_t i = 0; i < batch->size(); ++i)
      for (size_t n : (*sizes)[i]) {
        (*rows)[i].push_back(reinterpret_cast<const float*>(from));
        from += n * sizeof(float);
      }
    return true;
  }
  for (size_t i = 0; i < batch->size(); ++i) {
    TrialResult& t = (*batch)[i];
    for (size_t n : (*sizes)[i]) {
      t.recordings.emplace_back(n);
      if (!recv_all(fd, t.recordings.back().data(), n * sizeof(float))) return false;
      (*rows)[i].push_back(t.recordings.back().data());
    }
  }
  return true;
}

// Errors cross the socket as (kind, message) and are rethrown as the same type.
enum Kind : uint32_t { kError = 0, kConfig = 1, kModel = 2, kData = 3 };

std::string encode_error(std::exception_ptr e) {
  Out o;
  try {
    std::rethrow_exception(e);
  } catch (const ConfigError& x) {
    o.u32(kConfig), o.str(x.what());
  } catch (const ModelError& x) {
    o.u32(kModel), o.str(x.what());
  } catch (const DataError& x) {
    o.u32(kData), o.str(x.what());
  } catch (const std::exception& x) {
    o.u32(kError), o.str(x.what());
  } catch (...) {
    o.u32(kError), o.str("recording writer process: unknown error");
  }
  return o.bytes();
}

std::exception_ptr decode_error(const std::string& b) {
  In in(b);
  const uint32_t kind = in.u32();
  const std::string msg = in.str();
  switch (kind) {
    case kConfig: return std::make_exception_ptr(ConfigError(msg));
    case kModel: return std::make_exception_ptr(ModelError(msg));
    case kData: return std::make_exception_ptr(DataError(msg));
    default: return std::make_exception_ptr(Error(msg));
  }
}

// The child: the in-process writer, fed from the socket. Returns the exit status.
int child_main(int fd, const char* shared, WriterProcess::Mode mode, const std::filesystem::path& path,
               const RecordingHeader& header, bool force, WriterOptions opt) {
  const int64_t rss_at_fork = status_kb("VmRSS");  // pages shared with rig, mostly
  // Only this thread sends (the writer commits in it, through write_now).
  auto send = [fd](uint32_t type, const std::string& payload) {
    send_frame(fd, type, payload);  // rig may be gone: the file is what matters
  };
  opt.separate_process = false;
  // Before kReady only rig's death closes the socket: then the new file is not put in place
  // (another run may have started on the same path meanwhile).
  opt.still_wanted = [fd] {
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
  };
  std::unique_ptr<RecordingWriter> w;
  try {
    w = mode == WriterProcess::Mode::kCreate ? RecordingWriter::create(path, header, force, opt)
                                             : RecordingWriter::resume(path, header, opt);
  } catch (...) {
    send(kFailed, encode_error(std::current_exception()));
    return 1;
  }
  send(kReady, encode_indices(w->finished_trials()));
  w->set_on_committed([&](const std::vector<int64_t>& idx) { send(kCommitted, encode_indices(idx)); });
  bool failed = false;
  for (;;) {
    uint32_t type = 0;
    uint64_t bytes = 0;
    if (!recv_header(fd, &type, &bytes) || type != kBatch) break;  // rig closed, or died
    std::vector<TrialResult> batch;
    std::vector<std::vector<const float*>> rows;
    std::vector<std::vector<size_t>> sizes;
    bool from_shared = false;
    if (!recv_batch(fd, shared, &batch, &rows, &sizes, &from_shared)) break;  // rig died while sending
    try {
      // Written here, straight from where the rows lie; rig's queue and the shared memory are
      // the buffer that a writer thread's queue would be.
      for (size_t i = 0; i < batch.size(); ++i) check_recording_sizes(header, batch[i], sizes[i]);
      w->write_now(batch, [&](size_t i, size_t e) { return rows[i][e]; });
    } catch (...) {
      send(kFailed, encode_error(std::current_exception()));
      failed = true;
      break;
    }
    if (from_shared) send(kReleased, "");
  }
  if (failed) {
    // No close: closing flushes the failed batch's metadata, and on a full disk a flush that
    // stops half-way leaves a file no reader (nor --resume) can open. Without it the file
    // stays as its last commit left it, as after a kill; _exit (the caller) skips destructors.
    (void)w.release();
    return 1;
  }
  try {
    w->close();
  } catch (...) {
    if (!failed) send(kFailed, encode_error(std::current_exception()));
    return 1;
  }
  if (failed) return 1;
  Out closed;
  closed.i64(status_kb("VmHWM") - rss_at_fork);
  send(kClosed, closed.bytes());
  return 0;
}

}  // namespace

std::string encode_trial(const TrialResult& t) {
  Out o;
  put_trial(o, t);
  return o.bytes();
}

TrialResult decode_trial(const std::string& bytes, std::vector<size_t>* recording_sizes) {
  In in(bytes);
  TrialResult t;
  get_trial(in, &t, recording_sizes);
  return t;
}

std::unique_ptr<WriterProcess> WriterProcess::start(Mode mode, const std::filesystem::path& path,
                                                    const RecordingHeader& header, bool force,
                                                    const WriterOptions& opt) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw Error("recording writer process: socketpair failed: " + std::string(std::strerror(errno)));
  // Larger socket buffers: fewer switches between rig and the child per batch (the kernel
  // caps them at net.core.wmem_max / rmem_max).
  for (int fd : fds)
    for (int opt : {SO_SNDBUF, SO_RCVBUF}) {
      const int bytes = 8 << 20;
      ::setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
    }
  // Mapped before the fork, so the child has it at the same address. Untouched pages cost
  // nothing; without it (mmap refused) every batch crosses the socket.
  char* shared = nullptr;
  const size_t shared_bytes = opt.shared_memory_bytes;
  if (shared_bytes > 0) {
    void* m = ::mmap(nullptr, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m != MAP_FAILED) shared = static_cast<char*>(m);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    if (shared) ::munmap(shared, shared_bytes);
    throw Error("recording writer process: fork failed: " + std::string(std::strerror(err)));
  }
  if (pid == 0) {
    // The child: outlive rig's interrupts (rig stops on them and closes the socket, or dies);
    // keep only the socket and stdio (no locks held on rig's other files). Ends with _exit:
    // rig's atexit handlers and static destructors are not the child's to run.
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(s, SIG_IGN);
    ::prctl(PR_SET_NAME, "rig-writer");  // what ps and top show for it
    // Batches that cross the socket arrive as large vectors, each freed once written: keep that
    // memory in the heap for the next one instead of mapping fresh (zeroed) pages every time.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (::dup2(fds[1], 3) < 0) ::_exit(1);
    ::close_range(4, ~0U, 0);
    ::_exit(child_main(3, shared, mode, path, header, force, opt));
  }
  ::close(fds[1]);
  std::unique_ptr<WriterProcess> p(new WriterProcess());
  p->path_ = path;
  p->header_ = header;
  p->sock_ = fds[0];
  p->pid_ = pid;
  p->shared_ = shared;
  p->shared_bytes_ = shared ? shared_bytes : 0;
  uint32_t type = 0;
  uint64_t bytes = 0;
  std::string payload;
  if (!recv_header(p->sock_, &type, &bytes) || !recv_payload(p->sock_, bytes, &payload) ||
      (type != kReady && type != kFailed)) {
    p->closed_ = true;
    ::close(p->sock_);
    int status = 0;
    ::waitpid(pid, &status, 0);
    p->unmap_shared();
    throw Error("recording writer process for " + path.string() + " ended before it was ready");
  }
  if (type == kFailed) {
    p->closed_ = true;
    ::close(p->sock_);
    ::waitpid(pid, nullptr, 0);
    p->unmap_shared();
    std::rethrow_exception(decode_error(payload));
  }
  p->committed_ = decode_indices(payload);
  p->queue_ = std::make_unique<BatchQueue>(opt.max_queued_batches, path.string());
  p->queue_->accept(p->committed_);
  p->replies_ = std::thread([q = p.get()] { q->read_replies(); });
  p->queue_->start([q = p.get()](std::vector<TrialResult>& batch) { q->send(batch); });
  return p;
}

void WriterProcess::read_replies() {
  for (;;) {
    uint32_t type = 0;
    uint64_t bytes = 0;
    std::string payload;
    if (!recv_header(sock_, &type, &bytes) || !recv_payload(sock_, bytes, &payload)) break;
    if (type == kCommitted) {
      std::vector<int64_t> idx = decode_indices(payload);
      {
        std::lock_guard<std::mutex> lock(mu_);
        committed_.insert(committed_.end(), idx.begin(), idx.end());
      }
      const CommitCallback* cb = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        cb = on_committed_;
      }
      try {
        if (cb && *cb) (*cb)(idx);
      } catch (...) {  // surfaces on the next append or close, as with the writer thread
        fail(std::current_exception());
      }
    } else if (type == kReleased) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!shared_used_.empty()) shared_used_.pop_front();
      cv_.notify_all();
    } else if (type == kFailed) {
      fail(decode_error(payload));
    } else if (type == kClosed) {
      const int64_t kb = In(payload).i64();
      for (int64_t seen = g_peak_private_rss_kb.load(); kb > seen;)
        if (g_peak_private_rss_kb.compare_exchange_weak(seen, kb)) break;
      std::lock_guard<std::mutex> lock(mu_);
      child_closed_ = true;
    }
  }
  bool closed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed = child_closed_;
  }
  if (!closed)
    fail(std::make_exception_ptr(
        Error("the recording writer process (pid " + std::to_string(pid_) + ") ended unexpectedly")));
}

void WriterProcess::fail(std::exception_ptr error) {
  queue_->fail(std::move(error));
  { std::lock_guard<std::mutex> lock(mu_); }  // a sender between its check and its wait sees it
  cv_.notify_all();
}

size_t WriterProcess::shared_take(size_t n) const {
  if (shared_used_.empty()) return 0;
  const size_t tail = shared_used_.front().first;
  const size_t head = shared_used_.back().first + shared_used_.back().second;
  // Batches are released in the order they were sent, so the used part is one range, or two
  // once it wrapped around. Room before the oldest batch is taken first: a writer that keeps
  // up then cycles through the first two batches' worth of pages only.
  if (shared_used_.back().first >= tail) {  // in use: [tail, head)
    if (n <= tail) return 0;
    if (head + n <= shared_bytes_) return head;
  } else if (head + n <= tail) {  // wrapped: in use [tail, end) and [0, head)
    return head;
  }
  return std::string::npos;
}

void WriterProcess::unmap_shared() {
  if (shared_) ::munmap(shared_, shared_bytes_);
  shared_ = nullptr;
}

void WriterProcess::set_on_committed(const CommitCallback* cb) {
  std::lock_guard<std::mutex> lock(mu_);
  on_committed_ = cb;
}

void WriterProcess::send(std::vector<TrialResult>& batch) {
  try {
    uint64_t at = kInline;
    const uint64_t bytes = recording_bytes(batch);
    if (shared_ && bytes > 0 && bytes <= shared_bytes_) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return (at = shared_take(bytes)) != std::string::npos || queue_->error(); });
      if (queue_->error()) return;  // the child is gone: append and close report it
      shared_used_.emplace_back(at, bytes);
    }
    send_batch(sock_, batch, shared_, at);
  } catch (...) {
    if (replies_.joinable()) replies_.join();  // the child's own error, if it sent one, wins
    throw;
  }
}

void WriterProcess::append(std::vector<TrialResult> batch) {
  if (closed_) throw Error("RecordingWriter::append after close (" + path_.string() + ")");
  queue_->push(std::move(batch));
}

void WriterProcess::close() {
  if (closed_) return;
  closed_ = true;
  std::exception_ptr error = queue_->finish();  // everything queued is sent (or failed)
  ::shutdown(sock_, SHUT_WR);                   // the child writes what it has, closes the file, says so
  if (replies_.joinable()) replies_.join();
  ::close(sock_);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  unmap_shared();
  if ((error = queue_->error())) std::rethrow_exception(error);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("the recording writer process exited with status " + std::to_string(status));
}

WriterProcess::~WriterProcess() {
  try {
    close();
  } catch (...) {}
}

int64_t WriterProcess::peak_private_rss_kb() { return g_peak_private_rss_kb.load(); }

std::vector<int64_t> WriterProcess::finished_trials() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

}  // namespace rig
