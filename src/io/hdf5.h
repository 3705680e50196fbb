#pragma once
// A small, general layer over the HDF5 C API: RAII handles, attributes, and the two kinds of
// datasets rig writes: 1-D columns (a table is a group of equal-length columns, NWB style) and
// 2-D row matrices [n_rows, width]. Both are chunked along rows and extendible, so appending is
// "extend, then write the new rows".
//
// Errors throw rig::Error (or rig::DataError where a file's content is wrong) naming the
// operation, the object and HDF5's innermost message; HDF5's own stderr printing is off.
// The library in use (Debian's libhdf5 1.10) is built thread-safe: calls from several threads
// are serialised inside HDF5. Two handles on one file from two threads are still a bad idea.
//
// Types on disk: integers int64 / uint64 / uint8 little-endian, floats IEEE float32 or float16,
// strings variable-length UTF-8 (H5T_CSET_UTF8): h5py and MATLAB read all of them directly.
#include <hdf5.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rig::h5 {

// Owns one HDF5 identifier (file, group, dataset, attribute, type, space, property list) and
// closes it with the matching H5*close. Predefined types (H5T_NATIVE_INT64, ...) are never owned.
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Id() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to the C API
  bool valid() const { return id_ >= 0; }
  void reset();  // closes now (errors ignored)
  void close();  // closes now, throws on error (use for files, to see write errors)

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Throws rig::Error("<what>: <HDF5's innermost message>") when status < 0; returns status.
// Use with C API calls: check(H5Dwrite(...), "writing rows of /recordings/x/output").
int64_t check(int64_t status, const std::string& what);

// Element types of columns and matrices on disk.
enum class Dtype { kInt64, kUInt64, kUInt8, kFloat32, kFloat16, kString, kFloat64 };
const char* dtype_name(Dtype t);  // "int64", ..., "string"
hid_t file_type(Dtype t);         // the on-disk type (library-owned, do not close)
Dtype dtype_of(hid_t dataset);    // maps a dataset's type back (throws if other)

// ---- files ----
struct FileOptions {
  // Keep all dirty metadata in memory until the next flush (no evictions): the file on disk
  // then changes only at flushes, which is what makes a killed writer's file readable.
  bool hold_metadata_until_flush = true;
  // Superblock format 2 (HDF5 1.8) is what MATLAB before R2021b and HDF5 1.8 read; a file with
  // virtual datasets needs the 1.10 format for those (kV110 allows it; the superblock stays 2).
  bool allow_v110_objects = false;
};
// HDF5 locks a file it opens (flock; shared to read, exclusive to write). On a file system
// without locks (NFS without lockd, Lustre mounted without flock: flock fails with ENOLCK,
// EOPNOTSUPP or ENOSYS) these open the file without HDF5's lock and print a warning once per
// process, instead of failing as a lock held by another process does (HDF5's "unable to lock
// file"). (HDF5 >= 1.10.7 itself ignores ENOSYS.) HDF5_USE_FILE_LOCKING=FALSE in the
// environment turns HDF5's lock off altogether.
Id create_file(const std::filesystem::path& path, bool truncate, const FileOptions& opt = {});
Id open_file(const std::filesystem::path& path, bool writable, const FileOptions& opt = {});

// Whether flock(2) locks on `path` can be taken now, asked with a non-blocking exclusive lock
// on a descriptor of our own (dropped at once). kHeld: another open file holds a lock (the
// writer process of a killed run, a reader); kUnsupported: the file system has no locks
// (*err, when given, gets flock's errno: ENOLCK, EOPNOTSUPP or ENOSYS); kFree also when the
// file cannot be opened.
enum class LockState { kFree, kHeld, kUnsupported };
LockState probe_lock(const std::filesystem::path& path, int* err = nullptr);
// Whether an exception's message is HDF5's failure to lock a file (held or unsupported).
bool is_lock_failure(const std::exception& e);
// H5Fflush, then (sync) fsync of the file descriptor, so data survives an OS crash too.
// Before it, the file's blocks are allocated up to the end of allocation plus `reserve` bytes
// (what the flush may still allocate: chunks waiting in chunk caches get their addresses only
// now, plus metadata). On a full disk the flush then fails before it writes anything, and the
// file keeps its last flushed state, instead of HDF5 writing half of its blocks and a superblock
// that points past the end of the file.
void flush(hid_t file, bool sync, hsize_t reserve = 0);
// Bytes of one chunk of a chunked dataset (0 when it is not chunked).
hsize_t chunk_bytes(hid_t dataset);
// After a writer was killed: moves the end of allocation to the end of the file, so that space
// the killed writer used but did not yet record in the superblock is never handed out again.
void reserve_to_end_of_file(hid_t file);
// fsync of the directory holding `path`: makes a rename or a new file name durable.
void fsync_directory(const std::filesystem::path& path);

// The HDF5 library's version, "1.10.8" (recordings name it: their provenance).
std::string library_version();

// ---- groups and links (a name is one link name; it may contain dots but not '/') ----
bool exists(hid_t loc, const std::string& name);
Id create_group(hid_t loc, const std::string& name);
Id open_group(hid_t loc, const std::string& name);
Id open_or_create_group(hid_t loc, const std::string& name);
std::vector<std::string> children(hid_t group);  // link names in creation order
std::string object_path(hid_t obj);              // "/recordings/x/output", for messages

// Describes a table (a group of equal-length columns) as hdmf's DynamicTable does: the group
// gets `colnames` (1-D strings: the column order) and `description`; each column dataset,
// which must exist, gets its `description`.
struct ColumnDoc {
  std::string name, description;
};
void describe_table(hid_t group, const std::string& description, const std::vector<ColumnDoc>& columns);

// ---- attributes (scalar or 1-D) ----
void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, int64_t value);
void set_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& value);
void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& value);  // 1-D strings
bool has_attr(hid_t obj, const std::string& name);
std::vector<std::string> attr_names(hid_t obj);
// Whether the attribute holds a string / an integer (scalar or 1-D).
bool attr_is_string(hid_t obj, const std::string& name);
// A scalar string attribute (or a 1-D one of one string); DataError if absent or longer.
std::string get_string_attr(hid_t obj, const std::string& name);
std::vector<std::string> get_string_vector_attr(hid_t obj, const std::string& name);  // scalar or 1-D
int64_t get_int_attr(hid_t obj, const std::string& name);                             // throws DataError if absent
std::vector<int64_t> get_int_vector_attr(hid_t obj, const std::string& name);

// ---- datasets of rows ----
// Dataset creation: chunk_rows rows per chunk; gzip 0 = none, 1..9 = deflate level (with shuffle).
struct Layout {
  hsize_t chunk_rows = 4096;
  int gzip = 0;
  // Value of rows never written (integer columns only; others read 0 / ""). The event tables
  // use -1, so that a row a killed writer's index points to but never wrote reads as no event.
  std::optional<int64_t> int_fill;
};
// A 1-D extendible column with 0 rows.
Id create_column(hid_t loc, const std::string& name, Dtype type, const Layout& layout = {});
// A 2-D extendible matrix [0, width].
Id create_matrix(hid_t loc, const std::string& name, Dtype type, hsize_t width, const Layout& layout = {});
// A chunk_rows that gives chunks of about target_bytes for rows of row_bytes.
hsize_t chunk_rows_for(hsize_t row_bytes, hsize_t target_bytes = 1 << 20);
// Opens a dataset with a raw-data chunk cache large enough for `chunks` of its chunks, so
// appends that end mid-chunk keep that chunk in memory until it is full or flushed.
Id open_dataset(hid_t loc, const std::string& name, int cache_chunks = 4);

size_t rank(hid_t dataset);                  // number of dimensions (reads check it: 1 for columns, 2 for matrices)
hsize_t n_rows(hid_t dataset);               // first dimension
hsize_t width(hid_t dataset);                // second dimension (1 for a column)
void set_rows(hid_t dataset, hsize_t rows);  // grow or cut along the first dimension
// Cuts a dataset to `rows` and zeroes every stored element at or beyond that row, also in
// chunks beyond the extent that a killed writer left in the index. Needed before appending to
// variable-length strings: HDF5 frees the heap objects that the overwritten elements point to,
// and a killed writer's leftovers point to objects that were never written or were reused.
// Edits chunks raw (H5Dread_chunk/H5Dwrite_chunk), so it needs an unfiltered dataset.
void cut_rows_clean(hid_t dataset, hsize_t rows);

// Append to a column (the element type is converted to the column's on-disk type by HDF5).
void append(hid_t column, const std::vector<int64_t>& values);
void append(hid_t column, const std::vector<uint64_t>& values);
void append(hid_t column, const std::vector<uint8_t>& values);
void append(hid_t column, const std::vector<std::string>& values);
void append(hid_t column, const std::vector<double>& values);
// Append n rows of width floats (row-major) to a matrix; float16 columns are converted here
// (round to nearest even, as numpy does), float32 ones written as they are.
void append_rows(hid_t matrix, const float* data, hsize_t n);
// Appends several blocks of rows (pointer, rows) at once: one extent change for all of them,
// and no copy into one buffer for float32 (each block is written from where it lies).
void append_row_blocks(hid_t matrix, const std::vector<std::pair<const float*, hsize_t>>& blocks);

// Read rows [r0, r1) of a column (all rows by default).
std::vector<int64_t> read_int64(hid_t column, hsize_t r0 = 0, hsize_t r1 = hsize_t(-1));
std::vector<uint64_t> read_uint64(hid_t column, hsize_t r0 = 0, hsize_t r1 = hsize_t(-1));
std::vector<std::string> read_strings(hid_t column, hsize_t r0 = 0, hsize_t r1 = hsize_t(-1));
std::vector<double> read_float64(hid_t column, hsize_t r0 = 0, hsize_t r1 = hsize_t(-1));
std::vector<uint8_t> read_uint8(hid_t column, hsize_t r0 = 0, hsize_t r1 = hsize_t(-1));
// Read rows [r0, r1) of a matrix as float into out[(r1 - r0) * width] (float16 converted).
void read_rows(hid_t matrix, hsize_t r0, hsize_t r1, float* out);

// IEEE half <-> float, round to nearest even (handles inf, NaN, subnormals).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace rig::h5
