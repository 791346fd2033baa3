// The core's own cost of a group read, with no runtime: pm_group_read of a
// bound 4-member simulated group against pm_read (one simulated counter,
// and the 4 members one by one) and pm_noop, called from C. Give one or
// more builds of the library to compare them side by side: rounds
// alternate between them, and the medians are printed per library.
//
//   cc -O2 -o /tmp/group_core bench/group_core.c -ldl
//   /tmp/group_core native/linux-x64-gnu/libperfmmap.so [/tmp/base/libperfmmap.so ...]
//
// Each library is its own copy (dlopen of distinct files), with its own
// handle table. The group is set up as bench/_cases.ts simulatedGroup().

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { MEMBERS = 4, SLOTS = 3 + 3 * MEMBERS, LIBRARIES_MAX = 4, ROUNDS = 15, CASES = 4 };
static const long ITERATIONS = 2000000;
// pm_sim_set fields (src/ffi/symbols.ts SIM_FIELDS) and flags.
enum { FIELD_OFFSET = 2, FIELD_CAPABILITIES = 4, FIELD_REGISTER = 13 };
enum { MODE_AUTO = 1, FALLBACK = 1 << 2, CAPS_HARDWARE = 0xe, SOURCE_USERSPACE = 1 };

typedef struct {
  const char *path;
  int32_t (*noop)(void);
  double (*read)(int32_t);
  int32_t (*group_read)(int32_t, uint32_t);
  int32_t handles[MEMBERS];
  uint64_t slots[SLOTS];
  double samples[CASES][ROUNDS];
} Library;

static const char *const names[CASES] = {"pm_noop", "pm_read", "4 x pm_read", "pm_group_read (4)"};

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *symbol(void *library, const char *path, const char *name) {
  void *found = dlsym(library, name);
  if (found == NULL) {
    fprintf(stderr, "%s: no %s\n", path, name);
    exit(2);
  }
  return found;
}

static void open_library(Library *lib) {
  void *library = dlopen(lib->path, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "%s\n", dlerror());
    exit(2);
  }
  int32_t (*sim_open)(uint32_t) = symbol(library, lib->path, "pm_sim_open");
  int32_t (*sim_join)(int32_t, int32_t) = symbol(library, lib->path, "pm_sim_join");
  int32_t (*sim_set)(int32_t, uint32_t, uint32_t, uint32_t) = symbol(library, lib->path, "pm_sim_set");
  int32_t (*bind)(const int32_t *, uint32_t, uint64_t *, uint32_t) = symbol(library, lib->path, "pm_group_bind");
  lib->noop = symbol(library, lib->path, "pm_noop");
  lib->read = symbol(library, lib->path, "pm_read");
  lib->group_read = symbol(library, lib->path, "pm_group_read");
  for (int i = 0; i < MEMBERS; i++) {
    lib->handles[i] = sim_open(MODE_AUTO | FALLBACK);
    if (i > 0) sim_join(lib->handles[i], lib->handles[0]);
    sim_set(lib->handles[i], FIELD_CAPABILITIES, CAPS_HARDWARE, 0);
    sim_set(lib->handles[i], FIELD_OFFSET, 1000u * (uint32_t)(i + 1), 0);
    sim_set(lib->handles[i], FIELD_REGISTER, 1, 0);
  }
  if (bind(lib->handles, MEMBERS, lib->slots, SLOTS) != 0 || lib->group_read(lib->handles[0], 0) != SOURCE_USERSPACE) {
    fprintf(stderr, "%s: the simulated group is not read from userspace\n", lib->path);
    exit(2);
  }
}

/** One case, ITERATIONS calls: ns per call. */
static double run(const Library *lib, int which) {
  volatile double sink = 0;
  const int32_t *h = lib->handles;
  double start = now_ns();
  for (long i = 0; i < ITERATIONS; i++) {
    switch (which) {
      case 0: sink += lib->noop(); break;
      case 1: sink += lib->read(h[0]); break;
      case 2: sink += lib->read(h[0]) + lib->read(h[1]) + lib->read(h[2]) + lib->read(h[3]); break;
      default: sink += lib->group_read(h[0], 0); break;
    }
  }
  return (now_ns() - start) / (double)ITERATIONS;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int count = argc - 1;
  if (count < 1 || count > LIBRARIES_MAX) {
    fprintf(stderr, "usage: %s libperfmmap.so [more builds, up to %d]\n", argv[0], LIBRARIES_MAX);
    return 2;
  }
  static Library libraries[LIBRARIES_MAX];
  for (int l = 0; l < count; l++) {
    libraries[l].path = argv[l + 1];
    open_library(&libraries[l]);
  }
  for (int round = 0; round < ROUNDS; round++) {
    for (int l = 0; l < count; l++) {
      for (int c = 0; c < CASES; c++) libraries[l].samples[c][round] = run(&libraries[l], c);
    }
  }
  for (int l = 0; l < count; l++) {
    printf("%s\n", libraries[l].path);
    double median[CASES];
    for (int c = 0; c < CASES; c++) {
      qsort(libraries[l].samples[c], ROUNDS, sizeof(double), by_value);
      median[c] = libraries[l].samples[c][ROUNDS / 2];
      printf("  %-20s %6.2f ns\n", names[c], median[c]);
    }
    printf("  pm_group_read (4) / pm_read: %.2fx\n", median[3] / median[1]);
  }
  return 0;
}
