// One main for every test program: Kokkos is initialised around the Catch2 session.
#define CATCH_CONFIG_RUNNER
#include <Kokkos_Core.hpp>
#include <catch2/catch.hpp>

namespace mcsc_test {
bool& shared_data_skipped() {
  static bool skipped = false;
  return skipped;
}
}  // namespace mcsc_test

int main(int argc, char* argv[]) {
  Kokkos::initialize(argc, argv);
  int result = 0;
  {
    result = Catch::Session().run(argc, argv);
  }
  Kokkos::finalize();
  // 77: ctest's SKIP_RETURN_CODE (tests/CMakeLists.txt): a case skipped for missing ../shared data.
  return result == 0 && mcsc_test::shared_data_skipped() ? 77 : result;
}
