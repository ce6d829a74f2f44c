#include "ctl.hpp"

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return cats::ctl::run(args, std::cout, std::cerr, std::getenv("CATS_SOCKET"));
}
