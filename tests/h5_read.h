#pragma once
// Minimal HDF5 reading for tests that compare with ../shared/golden (HF's recordings).
#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace rig::test {

class H5File {
 public:
  explicit H5File(const std::string& path) : id_(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {
    if (id_ < 0) throw std::runtime_error("cannot open " + path);
  }
  ~H5File() { H5Fclose(id_); }
  H5File(const H5File&) = delete;

  bool exists(const std::string& path) const {
    // Check each prefix: H5Lexists fails on a missing intermediate group.
    size_t pos = 0;
    while ((pos = path.find('/', pos + 1)) != std::string::npos)
      if (H5Lexists(id_, path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
    return H5Lexists(id_, path.c_str(), H5P_DEFAULT) > 0;
  }

  // Reads a dataset as float (or int64) with its shape.
  template <class T>
  std::vector<T> read(const std::string& path, std::vector<int64_t>* shape = nullptr) const {
    hid_t d = H5Dopen2(id_, path.c_str(), H5P_DEFAULT);
    if (d < 0) throw std::runtime_error("no dataset " + path);
    hid_t s = H5Dget_space(d);
    const int rank = H5Sget_simple_extent_ndims(s);
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    size_t n = 1;
    if (shape) shape->clear();
    for (auto x : dims) {
      n *= x;
      if (shape) shape->push_back(int64_t(x));
    }
    std::vector<T> out(n);
    const hid_t mem = std::is_same<T, float>::value ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64;
    H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
    H5Sclose(s);
    H5Dclose(d);
    return out;
  }

  // Names of the members of a group.
  std::vector<std::string> list(const std::string& group) const {
    std::vector<std::string> names;
    H5Literate_by_name(
        id_, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
        [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
          static_cast<std::vector<std::string>*>(data)->push_back(name);
          return 0;
        },
        &names, H5P_DEFAULT);
    return names;
  }

  std::string attr_string(const std::string& obj, const std::string& name) const {
    hid_t a = H5Aopen_by_name(id_, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return "";
    hid_t t = H5Aget_type(a);
    std::string out;
    if (H5Tis_variable_str(t) > 0) {
      char* s = nullptr;
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(t));
      H5Aread(a, mt, &s);
      if (s) out = s;
      H5free_memory(s);
      H5Tclose(mt);
    } else {
      out.resize(H5Tget_size(t));
      H5Aread(a, t, out.data());
      while (!out.empty() && out.back() == '\0') out.pop_back();
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
  }

 private:
  hid_t id_;
};

}  // namespace rig::test
