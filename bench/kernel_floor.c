// The kernel's own floor for the group target, with no runtime
// and no FFI in the way: on the same 4 software events, with the read_format
// perfmmap uses, how long do 4 read(2) calls on 4 counters take against one
// read(2) of a group of the 4?
//
//   zig cc -O2 -o floor bench/kernel_floor.c && ./floor [rounds] [calls]
//
// bench/run.ts builds and runs it beside the JS cases and prints the ratio
// next to the 4 x Counter.read() / Group.read() target: if C cannot reach
// the target on this kernel, no binding can. Prints one JSON line.
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The events of bench/_cases.ts SOFTWARE_EVENTS, in that order.
static const uint64_t EVENTS[4] = {
    PERF_COUNT_SW_TASK_CLOCK,
    PERF_COUNT_SW_PAGE_FAULTS,
    PERF_COUNT_SW_CONTEXT_SWITCHES,
    PERF_COUNT_SW_CPU_MIGRATIONS,
};

// src/counter.ts DEFAULT_READ_FORMAT and src/group.ts's group format.
#define COUNTER_FORMAT (PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING)
#define GROUP_FORMAT (PERF_FORMAT_GROUP | PERF_FORMAT_ID | COUNTER_FORMAT)

static int open_event(uint64_t config, int group_fd, uint64_t format) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = config;
  attr.read_format = format;
  attr.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, group_fd, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    perror("perf_event_open");
    exit(2);
  }
  return fd;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void must_read(int fd, void *buffer, size_t size) {
  if (read(fd, buffer, size) <= 0) {
    perror("read");
    exit(2);
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 300;
  int calls = argc > 2 ? atoi(argv[2]) : 200;
  if (rounds < 1 || calls < 1) return 2;
  int single[4], group[4];
  for (int i = 0; i < 4; i++) single[i] = open_event(EVENTS[i], -1, COUNTER_FORMAT);
  group[0] = open_event(EVENTS[0], -1, GROUP_FORMAT);
  for (int i = 1; i < 4; i++) group[i] = open_event(EVENTS[i], group[0], GROUP_FORMAT);
  double *four = calloc((size_t)rounds, sizeof(double));
  double *one = calloc((size_t)rounds, sizeof(double));
  uint64_t values[3];
  uint64_t group_values[3 + 2 * 4];
  for (int round = -20; round < rounds; round++) { // 20 warm-up rounds
    double four_ns = 0, one_ns = 0;
    for (int pass = 0; pass < 2; pass++) {
      int do_group = (pass + round) & 1; // alternate which goes first
      double start = now_ns();
      if (do_group) {
        for (int k = 0; k < calls; k++) must_read(group[0], group_values, sizeof group_values);
        one_ns = (now_ns() - start) / calls;
      } else {
        for (int k = 0; k < calls; k++)
          for (int i = 0; i < 4; i++) must_read(single[i], values, sizeof values);
        four_ns = (now_ns() - start) / calls;
      }
    }
    if (round >= 0) {
      four[round] = four_ns;
      one[round] = one_ns;
    }
  }
  qsort(four, (size_t)rounds, sizeof(double), compare);
  qsort(one, (size_t)rounds, sizeof(double), compare);
  double four_median = four[rounds / 2], one_median = one[rounds / 2];
  printf("{\"rounds\":%d,\"calls\":%d,\"four_reads_ns\":%.1f,\"group_read_ns\":%.1f,\"ratio\":%.3f}\n",
         rounds, calls, four_median, one_median, four_median / one_median);
  return 0;
}
