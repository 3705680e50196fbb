#include "recording/writer.h"

#include <exception>
#include <filesystem>
#include <string>
#include <utility>

#include "core/error.h"
#include "recording/reader.h"
#include "recording/writer_process.h"

namespace rig {

RecordingWriter::RecordingWriter(std::unique_ptr<RecordingFile> file) : file_(std::move(file)), path_(file_->path()) {
  queue_ = std::make_unique<BatchQueue>(file_->options().max_queued_batches, path_.string());
  queue_->accept(file_->committed());
  queue_->start([this](std::vector<TrialResult>& batch) {
    file_->write(batch, [&](size_t i, size_t e) {
      return e < batch[i].recordings.size() ? batch[i].recordings[e].data() : nullptr;
    });
    if (on_committed_) {
      std::vector<int64_t> indices;
      for (const auto& t : batch) indices.push_back(t.index);
      on_committed_(indices);
    }
  });
}

RecordingWriter::RecordingWriter(std::unique_ptr<WriterProcess> process, std::filesystem::path path)
    : process_(std::move(process)), path_(std::move(path)) {
  process_->set_on_committed(&on_committed_);
}

RecordingWriter::~RecordingWriter() {
  try {
    close();
  } catch (...) {}
}

std::unique_ptr<RecordingWriter> RecordingWriter::create(const std::filesystem::path& path,
                                                         const RecordingHeader& header, bool force,
                                                         const WriterOptions& opt) {
  if (!opt.separate_process)
    return std::unique_ptr<RecordingWriter>(new RecordingWriter(RecordingFile::create(path, header, force, opt)));
  // Checked here too, so that a bad header or output is this process's error, before the fork.
  check_header(header);
  check_output_path(path, force, {});
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  return std::unique_ptr<RecordingWriter>(
      new RecordingWriter(WriterProcess::start(WriterProcess::Mode::kCreate, path, header, force, opt), path));
}

std::unique_ptr<RecordingWriter> RecordingWriter::resume(const std::filesystem::path& path,
                                                         const RecordingHeader& header, const WriterOptions& opt) {
  if (!opt.separate_process)
    return std::unique_ptr<RecordingWriter>(new RecordingWriter(RecordingFile::resume(path, header, opt)));
  check_header(header);
  if (!std::filesystem::exists(path)) throw ConfigError("cannot resume " + path.string() + ": no such file");
  return std::unique_ptr<RecordingWriter>(
      new RecordingWriter(WriterProcess::start(WriterProcess::Mode::kResume, path, header, false, opt), path));
}

void RecordingWriter::append(std::vector<TrialResult> batch) {
  if (process_) {
    for (const auto& t : batch) check_trial(process_->header(), t);
    process_->append(std::move(batch));
    return;
  }
  if (file_->options().statistics.empty())  // else rig merge's trials, without rows (WriterOptions::statistics)
    for (const auto& t : batch) check_trial(file_->header(), t);
  queue_->push(std::move(batch));
}

void RecordingWriter::write_now(const std::vector<TrialResult>& batch, const RowSource& rows) {
  if (process_) throw Error("RecordingWriter::write_now: only for a writer in this process");
  queue_->rethrow_if_failed();
  if (queue_->finished()) throw Error("RecordingWriter::write_now after close (" + path_.string() + ")");
  file_->write(batch, rows);
  if (on_committed_) {
    std::vector<int64_t> indices;
    for (const auto& t : batch) indices.push_back(t.index);
    on_committed_(indices);
  }
}

void RecordingWriter::close() {
  if (process_) return process_->close();
  if (closed_) return;
  closed_ = true;
  std::exception_ptr error = queue_->finish();  // every queued batch written, or the first error
  try {
    file_->close();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  if (error) std::rethrow_exception(error);
  if (file_->header().compression > 0 && file_->options().compress_on_close) compress_copy(path_, file_->options());
}

void RecordingWriter::compress_copy(const std::filesystem::path& path, const WriterOptions& opt) {
  const std::filesystem::path tmp = path.string() + ".compressing";
  {
    RecordingReader r(path);
    RecordingHeader h = r.header();
    WriterOptions o = opt;
    o.compress_on_close = false;
    o.still_wanted = nullptr;  // the run has ended by now, by design
    o.separate_process = false;
    auto w = create(tmp, h, /*force=*/true, o);
    for (size_t i = 0; i < r.trials().size(); ++i) w->append({r.trial(i)});
    w->close();
  }
  std::filesystem::rename(tmp, path);  // atomic: a kill leaves the uncompressed original
}

std::vector<int64_t> RecordingWriter::finished_trials() const {
  return process_ ? process_->finished_trials() : file_->committed();
}

const std::filesystem::path& RecordingWriter::path() const { return path_; }

}  // namespace rig
