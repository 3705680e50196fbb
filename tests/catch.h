#pragma once
// Catch2 v3 (split headers) or v2 (single header), whichever the build found.
#ifdef RIG_CATCH3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
