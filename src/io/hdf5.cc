#include "io/hdf5.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace rig::h5 {
namespace {

// HDF5 prints its error stack to stderr by default; the setting is per thread in a
// thread-safe build, so every entry point turns it off for the calling thread.
void quiet() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

herr_t innermost(unsigned n, const H5E_error2_t* e, void* out) {
  if (n == 0 && e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
  return 0;
}

std::string hdf5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "unknown HDF5 error" : msg;
}

Id make(hid_t id, const std::string& what) {
  check(id, what);
  return Id(id);
}

hid_t make_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  H5Tlock(t);
  return t;
}

// IEEE 754 binary16, little-endian: what h5py and numpy call float16.
hid_t make_half_type() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  H5Tlock(t);
  return t;
}

hid_t string_type() {
  static const hid_t t = make_string_type();
  return t;
}

hid_t half_type() {
  static const hid_t t = make_half_type();
  return t;
}

Id access_plist(const FileOptions& opt) {
  Id fapl = make(H5Pcreate(H5P_FILE_ACCESS), "creating a file access property list");
  // 1.8 file format: readable by any HDF5 >= 1.8 (MATLAB, h5py); allows attributes > 64 KiB
  // (a long config) and link creation order. Not SWMR: a killed SWMR writer leaves status
  // flags that make readers refuse the file.
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, opt.allow_v110_objects ? H5F_LIBVER_V110 : H5F_LIBVER_V18),
        "setting HDF5 format bounds");
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "setting the file close degree");
  if (opt.hold_metadata_until_flush) {
    H5AC_cache_config_t c;
    c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    check(H5Pget_mdc_config(fapl, &c), "reading the metadata cache config");
    c.evictions_enabled = false;  // needs all automatic resizing off:
    c.incr_mode = H5C_incr__off;
    c.flash_incr_mode = H5C_flash_incr__off;
    c.decr_mode = H5C_decr__off;
    c.set_initial_size = true;
    c.initial_size = 16 << 20;
    c.max_size = std::max<size_t>(c.max_size, 64 << 20);
    c.min_size = std::min<size_t>(c.min_size, c.initial_size);
    check(H5Pset_mdc_config(fapl, &c), "disabling metadata cache evictions");
  }
  return fapl;
}

Id group_create_plist() {
  Id gcpl = make(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list");
  check(H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "tracking link creation order");
  return gcpl;
}

// A read the file's content makes fail (a column of the wrong element type, a damaged chunk)
// is the file's fault: DataError (exit 4), not a failure of rig.
int64_t check_read(int64_t status, const std::string& what) {
  if (status < 0) throw DataError(what + ": " + hdf5_message());
  return status;
}

Id space_of(hid_t ds) { return make(H5Dget_space(ds), "getting the dataspace of " + object_path(ds)); }

std::vector<hsize_t> dims_of(hid_t ds) {
  Id space = space_of(ds);
  int rank = int(check(H5Sget_simple_extent_ndims(space), "reading the rank of " + object_path(ds)));
  std::vector<hsize_t> dims(size_t(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

// Reads size their buffers from the first dimension (and the second for a matrix): a dataset
// of another rank in a crafted file would make HDF5 write past them (heap corruption).
void require_rank(hid_t ds, size_t rank) {
  const size_t got = dims_of(ds).size();
  if (got != rank)
    throw DataError(object_path(ds) + " has " + std::to_string(got) + " dimension(s); expected " +
                    (rank == 1 ? std::string("1 (a column)") : std::to_string(rank) + " ([rows, neurons])"));
}

Id create_rows(hid_t loc, const std::string& name, Dtype type, std::vector<hsize_t> dims, const Layout& layout) {
  const std::string what = "creating dataset '" + name + "' in " + object_path(loc);
  std::vector<hsize_t> maxdims(dims);
  maxdims[0] = H5S_UNLIMITED;
  Id space = make(H5Screate_simple(int(dims.size()), dims.data(), maxdims.data()), what);
  Id dcpl = make(H5Pcreate(H5P_DATASET_CREATE), what);
  std::vector<hsize_t> chunk(dims);
  chunk[0] = std::max<hsize_t>(1, layout.chunk_rows);
  for (size_t i = 1; i < chunk.size(); ++i) chunk[i] = std::max<hsize_t>(1, chunk[i]);
  check(H5Pset_chunk(dcpl, int(chunk.size()), chunk.data()), what);
  if (layout.int_fill) {
    if (type != Dtype::kInt64) throw Error(what + ": a fill value needs an int64 column");
    check(H5Pset_fill_value(dcpl, H5T_NATIVE_INT64, &*layout.int_fill), what);
  }
  if (layout.gzip > 0) {
    if (type != Dtype::kString) check(H5Pset_shuffle(dcpl), what);
    check(H5Pset_deflate(dcpl, unsigned(std::min(layout.gzip, 9))), what);
  }
  return make(H5Dcreate2(loc, name.c_str(), file_type(type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), what);
}

// Extends a dataset by n rows and returns (file space selecting the new rows, memory space).
std::pair<Id, Id> extend(hid_t ds, hsize_t n) {
  std::vector<hsize_t> dims = dims_of(ds);
  const hsize_t r0 = dims[0];
  dims[0] = r0 + n;
  check(H5Dset_extent(ds, dims.data()), "extending " + object_path(ds));
  Id fspace = space_of(ds);
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  start[0] = r0;
  count[0] = n;
  check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        "selecting rows of " + object_path(ds));
  Id mspace = make(H5Screate_simple(int(count.size()), count.data(), nullptr), "creating a memory dataspace");
  return {std::move(fspace), std::move(mspace)};
}

// Appends `rows` rows (v holds rows x width values).
template <typename T>
void append_values(hid_t ds, hid_t memtype, const std::vector<T>& v, hsize_t rows) {
  if (rows == 0) return;
  auto [fspace, mspace] = extend(ds, rows);
  check(H5Dwrite(ds, memtype, mspace, fspace, H5P_DEFAULT, v.data()), "writing rows of " + object_path(ds));
}

// Selects rows [r0, r1) (r1 clipped to the dataset's rows) and returns the spaces and count.
struct Selection {
  Id fspace, mspace;
  hsize_t n = 0;
};
Selection select_rows(hid_t ds, hsize_t r0, hsize_t r1) {
  std::vector<hsize_t> dims = dims_of(ds);
  r1 = std::min(r1, dims[0]);
  if (r0 > r1)
    throw Error("reading rows [" + std::to_string(r0) + ", " + std::to_string(r1) + ") of " + object_path(ds) +
                ": the dataset has " + std::to_string(dims[0]) + " rows");
  Selection s;
  s.n = r1 - r0;
  s.fspace = space_of(ds);
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  start[0] = r0;
  count[0] = s.n;
  if (s.n == 0) {
    H5Sselect_none(s.fspace);
    s.mspace = make(H5Screate(H5S_NULL), "creating a memory dataspace");
    return s;
  }
  check(H5Sselect_hyperslab(s.fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        "selecting rows of " + object_path(ds));
  s.mspace = make(H5Screate_simple(int(count.size()), count.data(), nullptr), "creating a memory dataspace");
  return s;
}

template <typename T>
std::vector<T> read_values(hid_t ds, hid_t memtype, hsize_t r0, hsize_t r1, size_t rank = 1) {
  require_rank(ds, rank);
  Selection s = select_rows(ds, r0, r1);
  std::vector<T> out(size_t(s.n * width(ds)));
  if (s.n)
    check_read(H5Dread(ds, memtype, s.mspace, s.fspace, H5P_DEFAULT, out.data()), "reading rows of " + object_path(ds));
  return out;
}

Id open_attr(hid_t obj, const std::string& name) {
  quiet();
  if (!has_attr(obj, name)) throw DataError("attribute '" + name + "' of " + object_path(obj) + " is missing");
  return make(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute '" + name + "' of " + object_path(obj));
}

// Opens the attribute for writing if it exists with the same type class and element count,
// else (re)creates it. Rewriting in place keeps the object header's size unchanged.
Id attr_for_write(hid_t obj, const std::string& name, hid_t type, hid_t space) {
  const std::string what = "writing attribute '" + name + "' of " + object_path(obj);
  if (has_attr(obj, name)) {
    Id a = make(H5Aopen(obj, name.c_str(), H5P_DEFAULT), what);
    Id t = make(H5Aget_type(a), what);
    Id s = make(H5Aget_space(a), what);
    if (H5Tequal(t, type) > 0 && H5Sget_simple_extent_npoints(s) == H5Sget_simple_extent_npoints(space) &&
        H5Sget_simple_extent_ndims(s) == H5Sget_simple_extent_ndims(space))
      return a;
    a.reset();
    check(H5Adelete(obj, name.c_str()), what);
  }
  return make(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), what);
}

}  // namespace

// ---- Id ----

void Id::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Idec_ref(id_); break;
  }
  id_ = H5I_INVALID_HID;
}

void Id::close() {
  if (id_ < 0) return;
  quiet();
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  herr_t st = 0;
  switch (H5Iget_type(id)) {
    case H5I_FILE: st = H5Fclose(id); break;
    case H5I_GROUP: st = H5Gclose(id); break;
    case H5I_DATASET: st = H5Dclose(id); break;
    default: st = H5Idec_ref(id) < 0 ? -1 : 0; break;
  }
  check(st, "closing an HDF5 object");
}

int64_t check(int64_t status, const std::string& what) {
  if (status < 0) throw Error(what + ": " + hdf5_message());
  return status;
}

// ---- types ----

const char* dtype_name(Dtype t) {
  switch (t) {
    case Dtype::kInt64: return "int64";
    case Dtype::kUInt64: return "uint64";
    case Dtype::kUInt8: return "uint8";
    case Dtype::kFloat32: return "float32";
    case Dtype::kFloat16: return "float16";
    case Dtype::kString: return "string";
    case Dtype::kFloat64: return "float64";
  }
  return "?";
}

hid_t file_type(Dtype t) {
  switch (t) {
    case Dtype::kInt64: return H5T_STD_I64LE;
    case Dtype::kUInt64: return H5T_STD_U64LE;
    case Dtype::kUInt8: return H5T_STD_U8LE;
    case Dtype::kFloat32: return H5T_IEEE_F32LE;
    case Dtype::kFloat16: return half_type();
    case Dtype::kString: return string_type();
    case Dtype::kFloat64: return H5T_IEEE_F64LE;
  }
  return H5I_INVALID_HID;
}

Dtype dtype_of(hid_t ds) {
  quiet();
  Id t = make(H5Dget_type(ds), "reading the type of " + object_path(ds));
  const size_t size = H5Tget_size(t);
  switch (H5Tget_class(t)) {
    case H5T_INTEGER:
      if (size == 8) return H5Tget_sign(t) == H5T_SGN_NONE ? Dtype::kUInt64 : Dtype::kInt64;
      if (size == 1) return Dtype::kUInt8;
      break;
    case H5T_FLOAT:
      if (size == 4) return Dtype::kFloat32;
      if (size == 2) return Dtype::kFloat16;
      if (size == 8) return Dtype::kFloat64;
      break;
    case H5T_STRING:
      if (H5Tis_variable_str(t) > 0) return Dtype::kString;
      break;
    default: break;
  }
  throw DataError(object_path(ds) + " has an unsupported element type (class " + std::to_string(int(H5Tget_class(t))) +
                  ", " + std::to_string(size) +
                  " bytes); expected int64, uint64, uint8, float32, float16, float64 or a "
                  "variable-length string");
}

// ---- files ----

namespace {

constexpr const char* kLockFailure = "unable to lock file";

// After HDF5 failed to lock `path`: true (with a warning, once per process) when the file
// system has no locks, so the caller opens again without HDF5's lock; false when a lock is
// held, or HDF5 failed for another reason.
bool locks_unsupported(const std::filesystem::path& path) {
  int err = 0;
  if (probe_lock(path, &err) != LockState::kUnsupported) return false;
  static std::once_flag warned;
  std::call_once(warned, [&] {
    std::fprintf(stderr,
                 "rig: warning: %s: the file system has no file locks (flock: %s); HDF5 opens its files without "
                 "them. Make sure no two rig processes write one file at once (HDF5_USE_FILE_LOCKING=FALSE "
                 "silences this)\n",
                 path.c_str(), std::strerror(err));
  });
  return true;
}

Id without_lock(Id fapl) {
  // use_file_locking = false; ignore_when_disabled = true
  check(H5Pset_file_locking(fapl, false, true), "turning HDF5's file locking off");
  return fapl;
}

}  // namespace

LockState probe_lock(const std::filesystem::path& path, int* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return LockState::kFree;
  LockState s = LockState::kFree;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (err) *err = e;
    if (e == EWOULDBLOCK) s = LockState::kHeld;
    else if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) s = LockState::kUnsupported;
  }
  ::close(fd);  // also drops our lock, if we got it
  return s;
}

bool is_lock_failure(const std::exception& e) { return std::strstr(e.what(), kLockFailure) != nullptr; }

Id create_file(const std::filesystem::path& path, bool truncate, const FileOptions& opt) {
  quiet();
  Id fapl = access_plist(opt);
  Id fcpl = make(H5Pcreate(H5P_FILE_CREATE), "creating a file creation property list");
  check(H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "tracking link creation order");
  const std::string what = "creating HDF5 file " + path.string();
  hid_t f = H5Fcreate(path.c_str(), truncate ? H5F_ACC_TRUNC : H5F_ACC_EXCL, fcpl, fapl);
  if (f < 0) {
    const std::string msg = hdf5_message();
    // HDF5 created the file before it failed to lock it: only a truncating create can retry.
    if (truncate && msg.find(kLockFailure) != std::string::npos && locks_unsupported(path))
      f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, without_lock(std::move(fapl)));
    else throw Error(what + ": " + msg);
  }
  return make(f, what);
}

Id open_file(const std::filesystem::path& path, bool writable, const FileOptions& opt) {
  quiet();
  if (!std::filesystem::exists(path)) throw DataError(path.string() + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw DataError(path.string() + ": not an HDF5 file");
  }
  Id fapl = access_plist(opt);
  const unsigned mode = writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  hid_t f = H5Fopen(path.c_str(), mode, fapl);
  if (f < 0) {
    std::string msg = hdf5_message();
    if (msg.find(kLockFailure) != std::string::npos && locks_unsupported(path)) {
      f = H5Fopen(path.c_str(), mode, without_lock(std::move(fapl)));
      if (f < 0) {  // HDF5_USE_FILE_LOCKING=TRUE overrides the property list
        msg = hdf5_message();
        if (msg.find(kLockFailure) != std::string::npos)
          msg +=
              " (the file system has no locks; HDF5_USE_FILE_LOCKING is set to demand them: unset it or set it "
              "to FALSE)";
      }
    }
    if (f < 0) throw DataError("opening HDF5 file " + path.string() + ": " + msg);
  }
  return Id(f);
}

void flush(hid_t file, bool sync, hsize_t reserve) {
  quiet();
  void* handle = nullptr;
  check(H5Fget_vfd_handle(file, H5P_DEFAULT, &handle), "getting the file descriptor");
  const int fd = handle ? *static_cast<int*>(handle) : -1;
  // The flush writes the superblock (with the end of allocation, EOA) before it extends the
  // file to the EOA; a kill in between leaves a file that readers refuse as truncated. So the
  // file is extended first, with its blocks allocated (not a sparse ftruncate): on a full disk
  // this fails before the flush writes anything, instead of the flush stopping half-way
  // through its metadata blocks and leaving a file nobody can open.
  haddr_t eoa = 0;
  struct stat st {};
  check(H5Fget_eoa(file, &eoa), "reading the end of allocation of " + object_path(file));
  const off_t want = off_t(eoa + reserve);
  if (fd >= 0 && ::fstat(fd, &st) == 0 && want > st.st_size) {
    // HDF5's flush cuts the file back to its new end of allocation: the reserve is transient.
    int rc = ::posix_fallocate(fd, st.st_size, want - st.st_size);
    if (rc == EINVAL || rc == EOPNOTSUPP) rc = ::ftruncate(fd, off_t(eoa)) == 0 ? 0 : errno;
    if (rc != 0)
      throw Error("reserving " + std::to_string(want) + " bytes for the HDF5 file failed: " + std::strerror(rc) +
                  " (the file keeps its last committed state; `rig run ... --resume` continues it)");
  }
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing " + object_path(file));
  // The reserve's unused tail goes: HDF5 does not cut it (its driver tracks its own idea of
  // the file's end), and a file longer than its end of allocation would only waste space.
  check(H5Fget_eoa(file, &eoa), "reading the end of allocation of " + object_path(file));
  if (fd >= 0 && ::fstat(fd, &st) == 0 && off_t(eoa) < st.st_size && ::ftruncate(fd, off_t(eoa)) != 0)
    throw Error("cutting the HDF5 file's reserve: " + std::string(std::strerror(errno)));
  if (!sync) return;
  if (fd >= 0 && ::fsync(fd) != 0) throw Error("fsync of an HDF5 file failed: " + std::string(std::strerror(errno)));
}

void reserve_to_end_of_file(hid_t file) {
  quiet();
  check(H5Fincrement_filesize(file, 0), "moving the end of allocation of " + object_path(file));
}

void fsync_directory(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw Error("opening directory " + dir.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error("fsync of directory " + dir.string() + " failed: " + std::strerror(err));
}

// ---- groups and links ----

bool exists(hid_t loc, const std::string& name) {
  quiet();
  htri_t r = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Id create_group(hid_t loc, const std::string& name) {
  quiet();
  Id gcpl = group_create_plist();
  return make(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT),
              "creating group '" + name + "' in " + object_path(loc));
}

Id open_group(hid_t loc, const std::string& name) {
  quiet();
  if (!exists(loc, name)) throw DataError("group '" + name + "' is missing in " + object_path(loc));
  return make(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "opening group '" + name + "' in " + object_path(loc));
}

Id open_or_create_group(hid_t loc, const std::string& name) {
  return exists(loc, name) ? open_group(loc, name) : create_group(loc, name);
}

std::vector<std::string> children(hid_t group) {
  quiet();
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Literate(group, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, cb, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);  // no creation order tracked (a file rig did not write)
    names.clear();
    idx = 0;
    check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names), "listing " + object_path(group));
  }
  return names;
}

std::string object_path(hid_t obj) {
  ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return "<HDF5 object>";
  }
  std::string s(size_t(n) + 1, '\0');
  H5Iget_name(obj, s.data(), s.size());
  s.resize(size_t(n));
  return s;
}

void describe_table(hid_t group, const std::string& description, const std::vector<ColumnDoc>& columns) {
  std::vector<std::string> names;
  for (const auto& c : columns) {
    Id ds = make(H5Dopen2(group, c.name.c_str(), H5P_DEFAULT),
                 "opening column '" + c.name + "' of " + object_path(group) + " to describe it");
    set_attr(ds, "description", c.description);
    names.push_back(c.name);
  }
  set_attr(group, "colnames", names);
  set_attr(group, "description", description);
}

// ---- attributes ----

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  quiet();
  Id space = make(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id a = attr_for_write(obj, name, string_type(), space);
  const char* p = value.c_str();
  check(H5Awrite(a, string_type(), &p), "writing attribute '" + name + "'");
}

void set_attr(hid_t obj, const std::string& name, int64_t value) {
  quiet();
  Id space = make(H5Screate(H5S_SCALAR), "creating a dataspace");
  Id a = attr_for_write(obj, name, H5T_STD_I64LE, space);
  check(H5Awrite(a, H5T_NATIVE_INT64, &value), "writing attribute '" + name + "'");
}

void set_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& value) {
  quiet();
  hsize_t n = value.size();
  Id space = make(H5Screate_simple(1, &n, nullptr), "creating a dataspace");
  Id a = attr_for_write(obj, name, H5T_STD_I64LE, space);
  if (n) check(H5Awrite(a, H5T_NATIVE_INT64, value.data()), "writing attribute '" + name + "'");
}

void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& value) {
  quiet();
  hsize_t n = value.size();
  Id space = make(H5Screate_simple(1, &n, nullptr), "creating a dataspace");
  Id a = attr_for_write(obj, name, string_type(), space);
  std::vector<const char*> p;
  for (const auto& v : value) p.push_back(v.c_str());
  if (n) check(H5Awrite(a, string_type(), p.data()), "writing attribute '" + name + "'");
}

bool has_attr(hid_t obj, const std::string& name) {
  quiet();
  htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::vector<std::string> attr_names(hid_t obj) {
  quiet();
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  };
  hsize_t idx = 0;
  check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names),
        "listing the attributes of " + object_path(obj));
  return names;
}

bool attr_is_string(hid_t obj, const std::string& name) {
  Id a = open_attr(obj, name);
  Id t = make(H5Aget_type(a), "reading the type of attribute '" + name + "'");
  return H5Tget_class(t) == H5T_STRING;
}

std::string get_string_attr(hid_t obj, const std::string& name) {
  std::vector<std::string> v = get_string_vector_attr(obj, name);
  if (v.size() != 1)
    throw DataError("attribute '" + name + "' of " + object_path(obj) + " has " + std::to_string(v.size()) +
                    " strings; expected one");
  return v[0];
}

std::vector<std::string> get_string_vector_attr(hid_t obj, const std::string& name) {
  Id a = open_attr(obj, name);
  const std::string what = "reading attribute '" + name + "' of " + object_path(obj);
  Id t = make(H5Aget_type(a), what);
  if (H5Tget_class(t) != H5T_STRING) throw DataError(what + ": not a string");
  Id s = make(H5Aget_space(a), what);
  const hssize_t n = H5Sget_simple_extent_npoints(s);
  if (n < 0 || H5Sget_simple_extent_ndims(s) > 1) throw DataError(what + ": expected a scalar or 1-D attribute");
  std::vector<std::string> out(static_cast<size_t>(n));
  if (n == 0) return out;
  if (H5Tis_variable_str(t) > 0) {
    std::vector<char*> p(size_t(n), nullptr);
    check_read(H5Aread(a, string_type(), p.data()), what);
    for (size_t i = 0; i < p.size(); ++i) {
      out[i] = p[i] ? p[i] : "";
      H5free_memory(p[i]);
    }
    return out;
  }
  const size_t len = H5Tget_size(t);
  std::string buf(len * size_t(n), '\0');
  Id mt = make(H5Tcopy(t), what);
  check_read(H5Aread(a, mt, buf.data()), what);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = buf.substr(i * len, len);
    out[i].erase(std::find(out[i].begin(), out[i].end(), '\0'), out[i].end());
  }
  return out;
}

int64_t get_int_attr(hid_t obj, const std::string& name) {
  std::vector<int64_t> v = get_int_vector_attr(obj, name);
  if (v.size() != 1)
    throw DataError("attribute '" + name + "' of " + object_path(obj) + " has " + std::to_string(v.size()) +
                    " values; expected one");
  return v[0];
}

std::vector<int64_t> get_int_vector_attr(hid_t obj, const std::string& name) {
  Id a = open_attr(obj, name);
  const std::string what = "reading attribute '" + name + "' of " + object_path(obj);
  Id t = make(H5Aget_type(a), what);
  if (H5Tget_class(t) != H5T_INTEGER) throw DataError(what + ": not an integer");
  Id s = make(H5Aget_space(a), what);
  std::vector<int64_t> v(size_t(std::max<hssize_t>(0, H5Sget_simple_extent_npoints(s))));
  if (!v.empty()) check(H5Aread(a, H5T_NATIVE_INT64, v.data()), what);
  return v;
}

// ---- datasets ----

Id create_column(hid_t loc, const std::string& name, Dtype type, const Layout& layout) {
  quiet();
  return create_rows(loc, name, type, {0}, layout);
}

Id create_matrix(hid_t loc, const std::string& name, Dtype type, hsize_t width, const Layout& layout) {
  quiet();
  return create_rows(loc, name, type, {0, width}, layout);
}

hsize_t chunk_rows_for(hsize_t row_bytes, hsize_t target_bytes) {
  return std::max<hsize_t>(1, target_bytes / std::max<hsize_t>(1, row_bytes));
}

Id open_dataset(hid_t loc, const std::string& name, int cache_chunks) {
  quiet();
  const std::string what = "opening dataset '" + name + "' in " + object_path(loc);
  if (!exists(loc, name)) throw DataError("dataset '" + name + "' is missing in " + object_path(loc));
  Id dapl = make(H5Pcreate(H5P_DATASET_ACCESS), what);
  {
    // Size the chunk cache from the dataset's own chunk size.
    Id ds = make(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), what);
    Id dcpl = make(H5Dget_create_plist(ds), what);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
      Id t = make(H5Dget_type(ds), what);
      hsize_t chunk[8];
      int rank = H5Pget_chunk(dcpl, 8, chunk);
      size_t bytes = H5Tget_size(t);
      for (int i = 0; i < rank; ++i) bytes *= size_t(chunk[i]);
      check(H5Pset_chunk_cache(dapl, 521, std::max<size_t>(1 << 20, bytes * size_t(cache_chunks)), 1.0), what);
    }
  }
  return make(H5Dopen2(loc, name.c_str(), dapl), what);
}

hsize_t chunk_bytes(hid_t ds) {
  quiet();
  Id dcpl = make(H5Dget_create_plist(ds), "reading the layout of " + object_path(ds));
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return 0;
  Id t = make(H5Dget_type(ds), "reading the type of " + object_path(ds));
  hsize_t chunk[8];
  const int r = H5Pget_chunk(dcpl, 8, chunk);
  hsize_t bytes = H5Tget_size(t);
  for (int i = 0; i < r; ++i) bytes *= chunk[i];
  return bytes;
}

size_t rank(hid_t ds) {
  quiet();
  return dims_of(ds).size();
}

hsize_t n_rows(hid_t ds) {
  quiet();
  std::vector<hsize_t> d = dims_of(ds);
  return d.empty() ? 1 : d[0];
}

hsize_t width(hid_t ds) {
  quiet();
  std::vector<hsize_t> d = dims_of(ds);
  return d.size() < 2 ? 1 : d[1];
}

void set_rows(hid_t ds, hsize_t rows) {
  quiet();
  std::vector<hsize_t> dims = dims_of(ds);
  dims[0] = rows;
  check(H5Dset_extent(ds, dims.data()), "resizing " + object_path(ds) + " to " + std::to_string(rows) + " rows");
}

void cut_rows_clean(hid_t ds, hsize_t rows) {
  quiet();
  const std::string what = "clearing " + object_path(ds) + " beyond row " + std::to_string(rows);
  Id dcpl = make(H5Dget_create_plist(ds), what);
  std::vector<hsize_t> dims = dims_of(ds), chunk(dims.size());
  if (H5Pget_nfilters(dcpl) != 0) {
    // Only a finished recording is compressed (rewritten whole when it closed): nothing lies
    // beyond its rows.
    if (dims[0] > rows) throw DataError(what + ": the dataset is compressed");
    return;
  }
  check(H5Pget_chunk(dcpl, int(chunk.size()), chunk.data()) < 0 ? -1 : 0, what);
  for (size_t d = 1; d < dims.size(); ++d)
    if (chunk[d] != dims[d]) throw DataError(what + ": chunks must span whole rows");
  // Look for leftover chunks within a window past the committed rows (a killed writer got at
  // most one batch beyond them); the window grows while it is full of chunks.
  const hsize_t first = rows / chunk[0];
  std::vector<uint8_t> buf;
  for (hsize_t k = first, window = 16;; window *= 2) {
    dims[0] = std::max(dims[0], (first + window) * chunk[0]);
    check(H5Dset_extent(ds, dims.data()), what);
    for (; k < first + window; ++k) {
      std::vector<hsize_t> offset(dims.size(), 0);
      offset[0] = k * chunk[0];
      unsigned mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t bytes = 0;
      check(H5Dget_chunk_info_by_coord(ds, offset.data(), &mask, &addr, &bytes), what);
      if (addr == HADDR_UNDEF) break;
      buf.resize(bytes);
      uint32_t filters = 0;
      check(H5Dread_chunk(ds, H5P_DEFAULT, offset.data(), &filters, buf.data()), what);
      // Elements are stored row-major in whole-chunk order, so the rows are byte ranges.
      const hsize_t row_bytes = bytes / chunk[0];
      const hsize_t keep = rows > offset[0] ? rows - offset[0] : 0;
      std::fill(buf.begin() + std::ptrdiff_t(keep * row_bytes), buf.end(), uint8_t(0));
      check(H5Dwrite_chunk(ds, H5P_DEFAULT, 0, offset.data(), bytes, buf.data()), what);
    }
    if (k < first + window) break;
  }
  set_rows(ds, rows);
}

void append(hid_t column, const std::vector<int64_t>& v) {
  quiet();
  append_values(column, H5T_NATIVE_INT64, v, v.size());
}
void append(hid_t column, const std::vector<uint64_t>& v) {
  quiet();
  append_values(column, H5T_NATIVE_UINT64, v, v.size());
}
void append(hid_t column, const std::vector<uint8_t>& v) {
  quiet();
  append_values(column, H5T_NATIVE_UINT8, v, v.size());
}
void append(hid_t column, const std::vector<std::string>& v) {
  quiet();
  std::vector<const char*> p(v.size());
  for (size_t i = 0; i < v.size(); ++i) p[i] = v[i].c_str();
  append_values(column, string_type(), p, p.size());
}

void append(hid_t column, const std::vector<double>& v) {
  quiet();
  append_values(column, H5T_NATIVE_DOUBLE, v, v.size());
}

void append_rows(hid_t matrix, const float* data, hsize_t n) {
  quiet();
  if (n == 0) return;
  const hsize_t w = width(matrix);
  if (dtype_of(matrix) == Dtype::kFloat16) {
    std::vector<uint16_t> half(size_t(n * w));
    for (size_t i = 0; i < half.size(); ++i) half[i] = float_to_half(data[i]);
    append_values(matrix, half_type(), half, n);
  } else {
    auto [fspace, mspace] = extend(matrix, n);
    check(H5Dwrite(matrix, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, data),
          "writing rows of " + object_path(matrix));
  }
}

void append_row_blocks(hid_t matrix, const std::vector<std::pair<const float*, hsize_t>>& blocks) {
  quiet();
  hsize_t total = 0;
  for (const auto& b : blocks) total += b.second;
  if (total == 0) return;
  const hsize_t w = width(matrix);
  if (dtype_of(matrix) == Dtype::kFloat16) {  // converted anyway: into one buffer, one write
    std::vector<uint16_t> half(size_t(total * w));
    size_t at = 0;
    for (const auto& [data, n] : blocks)
      for (size_t i = 0; i < size_t(n * w); ++i) half[at++] = float_to_half(data[i]);
    append_values(matrix, half_type(), half, total);
    return;
  }
  auto [fspace, mspace] = extend(matrix, total);
  std::vector<hsize_t> start = {dims_of(matrix)[0] - total, 0}, count = {0, w};
  for (const auto& [data, n] : blocks) {
    if (n == 0) continue;
    count[0] = n;
    check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "selecting rows of " + object_path(matrix));
    Id mem = make(H5Screate_simple(2, count.data(), nullptr), "creating a dataspace");
    check(H5Dwrite(matrix, H5T_NATIVE_FLOAT, mem, fspace, H5P_DEFAULT, data), "writing rows of " + object_path(matrix));
    start[0] += n;
  }
}

std::vector<int64_t> read_int64(hid_t column, hsize_t r0, hsize_t r1) {
  quiet();
  return read_values<int64_t>(column, H5T_NATIVE_INT64, r0, r1);
}

std::vector<uint64_t> read_uint64(hid_t column, hsize_t r0, hsize_t r1) {
  quiet();
  return read_values<uint64_t>(column, H5T_NATIVE_UINT64, r0, r1);
}

std::vector<double> read_float64(hid_t column, hsize_t r0, hsize_t r1) {
  quiet();
  return read_values<double>(column, H5T_NATIVE_DOUBLE, r0, r1);
}

std::vector<uint8_t> read_uint8(hid_t column, hsize_t r0, hsize_t r1) {
  quiet();
  return read_values<uint8_t>(column, H5T_NATIVE_UINT8, r0, r1);
}

std::vector<std::string> read_strings(hid_t column, hsize_t r0, hsize_t r1) {
  quiet();
  require_rank(column, 1);
  Selection s = select_rows(column, r0, r1);
  std::vector<char*> p(s.n, nullptr);
  std::vector<std::string> out(s.n);
  if (!s.n) return out;
  check_read(H5Dread(column, string_type(), s.mspace, s.fspace, H5P_DEFAULT, p.data()),
             "reading strings of " + object_path(column));
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i]) out[i] = p[i];
  H5Dvlen_reclaim(string_type(), s.mspace, H5P_DEFAULT, p.data());
  return out;
}

void read_rows(hid_t matrix, hsize_t r0, hsize_t r1, float* out) {
  quiet();
  require_rank(matrix, 2);
  if (dtype_of(matrix) == Dtype::kFloat16) {
    std::vector<uint16_t> half = read_values<uint16_t>(matrix, half_type(), r0, r1, 2);
    for (size_t i = 0; i < half.size(); ++i) out[i] = half_to_float(half[i]);
    return;
  }
  Selection s = select_rows(matrix, r0, r1);
  if (s.n)
    check_read(H5Dread(matrix, H5T_NATIVE_FLOAT, s.mspace, s.fspace, H5P_DEFAULT, out),
               "reading rows of " + object_path(matrix));
}

// ---- half precision (F. Giesen's float_to_half_fast3_rtne) ----

uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t o;
  if (u >= (127u + 16) << 23) {  // |f| >= 65536, inf or NaN
    o = u > (255u << 23) ? 0x7e00 : 0x7c00;
  } else if (u < (113u << 23)) {          // half subnormal or zero
    const uint32_t magic_u = 126u << 23;  // 0.5: its ulp is half's subnormal step
    float a, magic;
    std::memcpy(&a, &u, 4);
    std::memcpy(&magic, &magic_u, 4);
    a += magic;  // the FPU rounds to nearest even
    uint32_t au;
    std::memcpy(&au, &a, 4);
    o = uint16_t(au - magic_u);
  } else {
    const uint32_t mant_odd = (u >> 13) & 1;
    u += (uint32_t(15 - 127) << 23) + 0xfff + mant_odd;  // rebias and round to nearest even
    o = uint16_t(u >> 13);
  }
  return uint16_t(o | (sign >> 16));
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    float v = float(mant) * 5.9604644775390625e-8f;  // mant * 2^-24, exact
    std::memcpy(&u, &v, 4);
    u |= sign;
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace rig::h5
