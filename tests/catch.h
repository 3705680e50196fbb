#pragma once
// Catch2 v3 (split headers) or v2 (single header), whichever the build found.

// LibTorch built with glog (Debian's) pulls in glog's CHECK macros, which would silently
// replace Catch's CHECK in any test that includes ATen after this header. Include glog
// first and drop its macros; its include guard keeps them out afterwards.
#if __has_include(<glog/logging.h>)
#include <glog/logging.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL
#endif
#ifdef RIG_CATCH3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
