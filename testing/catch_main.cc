// The one Catch2 main every Kiln test links (compiled once; ~10 s).
#define CATCH_CONFIG_MAIN
#include "catch2/catch.hpp"
