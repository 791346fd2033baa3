// perfmmap arm64 tier: the recipe proven without any of our code.
//
// A static aarch64 program that talks to perf_event_open(2) directly and reads
// the PMU registers itself under the perf_event_mmap_page seqlock. If this
// fails, the kernel/QEMU recipe is broken, not perfmmap. If this passes and
// the project's tests fail, the bug is ours.
//
// Usage (inside the guest):
//   smoke basic <width>     cycles opens with config1=0x3 (0x2 on EOPNOTSUPP),
//                           cap_user_rdpmc=1, index=32, pmc_width=<width>,
//                           1000/1000 mrs reads lie between two read() calls,
//                           values grow over growing loops
//   smoke multi <n>         cycles + n raw r11 at once (config1=0x3): indices 32
//                           and 1..n, each read through its own register agrees
//                           with read()
//   smoke multi32 <n>       the same with the r11 events at config1=0x2 (32-bit)
//   smoke group <n>         cycles + n raw r11 in one group: every member read
//                           with mrs inside one group read(2) bracket, 200/200
//   smoke wrap <event>      a 32-bit counter crosses 2^32 and the sign-extended
//                           mrs read agrees with read(). event "instructions":
//                           opened with 0x3, must be refused (EOPNOTSUPP) and
//                           fall back to 0x2 (cortex-a57 under icount);
//                           event "r11": opened with 0x2 directly
//   smoke off               perf_user_access=0: index stays 0
//   smoke icount <K>        INSTRUCTIONS: K-iteration loop identical 100/100,
//                           2K gives >= count + K * body
//
// Every check prints one line: "@@RESULT c.<name> PASS|FAIL key=value ...".

#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CONFIG1_64BIT 0x1ull
#define CONFIG1_USER 0x2ull
#define ARMV8_CPU_CYCLES 0x11
#define ARMV8_INST_RETIRED 0x08
#define BRACKET_SAMPLES 1000
#define MULTI_MAX 31

static int failures;

static void result(const char *name, int pass, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (!pass) failures++;
  printf("@@RESULT c.%s %s %s\n", name, pass ? "PASS" : "FAIL", detail);
  fflush(stdout);
}

struct counter {
  int fd;
  uint64_t config1;
  volatile struct perf_event_mmap_page *page;
};

static int perf_open(uint32_t type, uint64_t config, uint64_t config1) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  attr.config1 = config1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.read_format =
      PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  // Task-bound (pid 0, cpu -1): user access works only for these.
  return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

// Opens with config1=0x3; a core without 64-bit event counters refuses bit 0
// with EOPNOTSUPP, and then bit 1 alone gives a 32-bit counter.
static int counter_open(struct counter *c, uint32_t type, uint64_t config,
                        uint64_t config1_first) {
  c->config1 = config1_first;
  c->fd = perf_open(type, config, c->config1);
  if (c->fd < 0 && errno == EOPNOTSUPP && (c->config1 & CONFIG1_64BIT)) {
    c->config1 = CONFIG1_USER;
    c->fd = perf_open(type, config, c->config1);
  }
  if (c->fd < 0) return -errno;
  void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED,
                 c->fd, 0);
  if (p == MAP_FAILED) return -errno;
  c->page = p;
  return 0;
}

struct read3 {
  uint64_t value, enabled, running;
};

static uint64_t syscall_read(const struct counter *c) {
  struct read3 r;
  if (read(c->fd, &r, sizeof r) != (ssize_t)sizeof r) {
    perror("read");
    exit(3);
  }
  return r.value;
}

#define MRS(reg)                                      \
  ({                                                  \
    uint64_t v_;                                      \
    __asm__ volatile("mrs %0, " #reg : "=r"(v_));     \
    v_;                                               \
  })

// index 32 is PMCCNTR_EL0; index i in 1..31 is PMEVCNTR<i-1>_EL0. Written out
// one by one so that every index provably maps to its own register.
static uint64_t read_register(uint32_t index) {
  switch (index) {
    case 32: return MRS(pmccntr_el0);
    case 1: return MRS(pmevcntr0_el0);
    case 2: return MRS(pmevcntr1_el0);
    case 3: return MRS(pmevcntr2_el0);
    case 4: return MRS(pmevcntr3_el0);
    case 5: return MRS(pmevcntr4_el0);
    case 6: return MRS(pmevcntr5_el0);
    case 7: return MRS(pmevcntr6_el0);
    case 8: return MRS(pmevcntr7_el0);
    case 9: return MRS(pmevcntr8_el0);
    case 10: return MRS(pmevcntr9_el0);
    case 11: return MRS(pmevcntr10_el0);
    case 12: return MRS(pmevcntr11_el0);
    case 13: return MRS(pmevcntr12_el0);
    case 14: return MRS(pmevcntr13_el0);
    case 15: return MRS(pmevcntr14_el0);
    case 16: return MRS(pmevcntr15_el0);
    case 17: return MRS(pmevcntr16_el0);
    case 18: return MRS(pmevcntr17_el0);
    case 19: return MRS(pmevcntr18_el0);
    case 20: return MRS(pmevcntr19_el0);
    case 21: return MRS(pmevcntr20_el0);
    case 22: return MRS(pmevcntr21_el0);
    case 23: return MRS(pmevcntr22_el0);
    case 24: return MRS(pmevcntr23_el0);
    case 25: return MRS(pmevcntr24_el0);
    case 26: return MRS(pmevcntr25_el0);
    case 27: return MRS(pmevcntr26_el0);
    case 28: return MRS(pmevcntr27_el0);
    case 29: return MRS(pmevcntr28_el0);
    case 30: return MRS(pmevcntr29_el0);
    case 31: return MRS(pmevcntr30_el0);
    default: return 0;
  }
}

struct user_read {
  uint64_t value;
  uint32_t index;
  uint32_t width;
  uint32_t attempts;
  int ok;  // 0 when the page says the counter is not on a register
};

static uint32_t load_acquire_u32(volatile uint32_t *p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

// The seqlock read from include/uapi/linux/perf_event.h.
static struct user_read userspace_read(const struct counter *c) {
  volatile struct perf_event_mmap_page *pc = c->page;
  struct user_read r = {0};
  uint32_t seq;
  do {
    r.attempts++;
    seq = load_acquire_u32(&pc->lock);
    if (seq & 1) continue;
    r.index = pc->index;
    r.width = pc->pmc_width;
    int64_t offset = pc->offset;
    r.ok = pc->cap_user_rdpmc && r.index != 0 && r.width > 0 && r.width <= 64;
    uint64_t raw = r.ok ? read_register(r.index) : 0;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (load_acquire_u32(&pc->lock) != seq) continue;
    if (r.ok) {
      int shift = 64 - (int)r.width;
      int64_t extended = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
      r.value = (uint64_t)(offset + extended);
    }
    return r;
  } while (r.attempts < 100000);
  r.ok = 0;
  return r;
}

static void spin(uint64_t n) {
  __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n)::"cc");
}

// Takes `samples` reads a <= u <= b with a, b from read() and u from mrs.
static int bracket(const struct counter *c, int samples, char *why,
                   size_t why_len) {
  int good = 0;
  for (int i = 0; i < samples; i++) {
    uint64_t a = syscall_read(c);
    struct user_read u = userspace_read(c);
    uint64_t b = syscall_read(c);
    if (u.ok && a <= u.value && u.value <= b) {
      good++;
    } else if (why[0] == 0) {
      snprintf(why, why_len,
               "first_bad=%d(a=%llu,u=%llu,b=%llu,ok=%d,idx=%u)", i,
               (unsigned long long)a, (unsigned long long)u.value,
               (unsigned long long)b, u.ok, u.index);
    }
    spin(50 + (uint64_t)i);
  }
  return good;
}

static int cmd_basic(int expect_width) {
  struct counter c;
  int err = counter_open(&c, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES,
                         CONFIG1_64BIT | CONFIG1_USER);
  if (err) {
    result("basic.open", 0, "errno=%d(%s)", -err, strerror(-err));
    return 1;
  }
  spin(1000);
  struct user_read u = userspace_read(&c);
  int facts = c.page->cap_user_rdpmc == 1 && u.index == 32 &&
              (int)u.width == expect_width;
  result("basic.open", facts,
         "config1=0x%llx cap_user_rdpmc=%u index=%u pmc_width=%u "
         "expect_width=%d caps=0x%llx",
         (unsigned long long)c.config1, (unsigned)c.page->cap_user_rdpmc,
         u.index, u.width, expect_width,
         (unsigned long long)c.page->capabilities);

  char why[256] = "";
  int good = bracket(&c, BRACKET_SAMPLES, why, sizeof why);
  result("basic.bracket", good == BRACKET_SAMPLES, "bracket=%d/%d %s", good,
         BRACKET_SAMPLES, why);

  // Values grow strictly over loops of growing (doubling) size. The least of
  // 5 rounds per size: without icount, cycles follow guest time, and a vCPU
  // preempted on the host inflates single samples, never the least of them.
  uint64_t least[5];
  for (int k = 0; k < 5; k++) least[k] = UINT64_MAX;
  for (int round = 0; round < 5; round++) {
    for (int k = 0; k < 5; k++) {
      uint64_t before = userspace_read(&c).value;
      spin(100000ull << k);
      uint64_t delta = userspace_read(&c).value - before;
      if (delta < least[k]) least[k] = delta;
    }
  }
  int grow = 1;
  char deltas[256] = "";
  size_t used = 0;
  for (int k = 0; k < 5; k++) {
    if (k > 0 && least[k] <= least[k - 1]) grow = 0;
    used += (size_t)snprintf(deltas + used, sizeof deltas - used, "%s%llu",
                             k > 0 ? "," : "", (unsigned long long)least[k]);
  }
  result("basic.grow", grow, "least_deltas=%s", deltas);
  return 0;
}

static int cmd_multi(const char *name, int n_raw, uint64_t raw_config1,
                     unsigned raw_width) {
  if (n_raw < 1 || n_raw > MULTI_MAX - 1) n_raw = 6;
  struct counter c[MULTI_MAX];
  int n = 0;
  char detail[512] = "";
  size_t used = 0;
  int all_open = 1;
  for (int i = 0; i <= n_raw; i++) {
    // Far apart in cycles: a counter read through another counter's register
    // would then land outside its own read() bracket.
    spin(1000000);
    // Counter 0 is the generic "cycles"; the rest are raw r11 (CPU_CYCLES by
    // number). Only one can have the 64-bit cycle counter, so the others ask
    // for bit 1 alone when the core has no 64-bit event counters.
    int err = i == 0 ? counter_open(&c[i], PERF_TYPE_HARDWARE,
                                    PERF_COUNT_HW_CPU_CYCLES,
                                    CONFIG1_64BIT | CONFIG1_USER)
                     : counter_open(&c[i], PERF_TYPE_RAW, ARMV8_CPU_CYCLES,
                                    raw_config1);
    if (err) {
      all_open = 0;
      used += (size_t)snprintf(detail + used, sizeof detail - used,
                               " open%d=errno%d", i, -err);
      break;
    }
    n++;
  }
  spin(100000);
  uint64_t seen = 0;  // bit per index
  int distinct = 1, own = 1;
  for (int i = 0; i < n; i++) {
    struct user_read u = userspace_read(&c[i]);
    if (i > 0 && u.width != raw_width) own = 0;
    if (u.index > 0 && u.index < 64) {
      if (seen & (1ull << u.index)) distinct = 0;
      seen |= 1ull << u.index;
    }
    char why[256] = "";
    int good = bracket(&c[i], 200, why, sizeof why);
    if (good != 200) own = 0;
    used += (size_t)snprintf(detail + used, sizeof detail - used,
                             " %s:idx=%u,w=%u,cfg1=0x%llx,br=%d/200",
                             i == 0 ? "cycles" : "r11", u.index, u.width,
                             (unsigned long long)c[i].config1, good);
  }
  uint64_t want = 1ull << 32;
  for (int i = 1; i <= n_raw; i++) want |= 1ull << i;
  int placed = seen == want;
  result(name, all_open && distinct && own && placed,
         "counters=%d indices_ok=%d%s", n, placed, detail);
  return 0;
}

// A group: cycles as leader and n_raw raw r11 members, each mapped and read
// with mrs under its own seqlock, all bracketed by one group read(2) before
// and one after (PERF_FORMAT_GROUP | ID; members are matched by id). The C
// floor of what perfmmap's pm_group_read does.
static int group_open(struct counter *c, int leader_fd, uint64_t config1,
                      uint32_t type, uint64_t config) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  attr.config1 = config1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.disabled = leader_fd < 0;
  attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_ID |
                     PERF_FORMAT_TOTAL_TIME_ENABLED |
                     PERF_FORMAT_TOTAL_TIME_RUNNING;
  c->config1 = config1;
  c->fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, leader_fd, 0);
  if (c->fd < 0) return -errno;
  void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED,
                 c->fd, 0);
  if (p == MAP_FAILED) return -errno;
  c->page = p;
  return 0;
}

struct group_values {
  uint64_t nr, enabled, running;
  struct { uint64_t value, id; } member[MULTI_MAX];
};

static void group_syscall(int fd, struct group_values *g) {
  ssize_t n = read(fd, g, sizeof *g);
  if (n < 24) {
    perror("group read");
    exit(3);
  }
}

static int cmd_group(int n_raw) {
  if (n_raw < 1 || n_raw > MULTI_MAX - 1) n_raw = 4;
  struct counter c[MULTI_MAX];
  uint64_t ids[MULTI_MAX];
  int n = 0;
  for (int i = 0; i <= n_raw; i++) {
    int err = i == 0 ? group_open(&c[i], -1, CONFIG1_64BIT | CONFIG1_USER,
                                  PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES)
                     : group_open(&c[i], c[0].fd, CONFIG1_64BIT | CONFIG1_USER,
                                  PERF_TYPE_RAW, ARMV8_CPU_CYCLES);
    if (err) {
      result("group", 0, "open%d=errno%d(%s)", i, -err, strerror(-err));
      return 1;
    }
    if (ioctl(c[i].fd, PERF_EVENT_IOC_ID, &ids[i]) != 0) {
      result("group", 0, "PERF_EVENT_IOC_ID errno=%d", errno);
      return 1;
    }
    n++;
  }
  ioctl(c[0].fd, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
  spin(100000);
  int good = 0;
  char why[256] = "";
  for (int s = 0; s < 200; s++) {
    struct group_values a, b;
    uint64_t u[MULTI_MAX];
    int ok = 1;
    group_syscall(c[0].fd, &a);
    for (int i = 0; i < n; i++) {
      struct user_read r = userspace_read(&c[i]);
      ok = ok && r.ok;
      u[i] = r.value;
    }
    group_syscall(c[0].fd, &b);
    for (int i = 0; i < n && ok; i++) {
      // By id: the kernel's order is the open order, but nothing promises it.
      uint64_t va = 0, vb = 0;
      for (uint64_t k = 0; k < a.nr; k++) if (a.member[k].id == ids[i]) va = a.member[k].value;
      for (uint64_t k = 0; k < b.nr; k++) if (b.member[k].id == ids[i]) vb = b.member[k].value;
      if (!(va <= u[i] && u[i] <= vb)) {
        ok = 0;
        if (why[0] == 0)
          snprintf(why, sizeof why, "first_bad=%d member=%d a=%llu u=%llu b=%llu", s, i,
                   (unsigned long long)va, (unsigned long long)u[i],
                   (unsigned long long)vb);
      }
    }
    good += ok;
    spin(50 + (uint64_t)s);
  }
  result("group", good == 200, "members=%d bracket=%d/200 %s", n, good, why);
  return 0;
}

static int cmd_wrap(const char *event) {
  struct counter c;
  int err, refused = 1;
  if (strcmp(event, "instructions") == 0) {
    // No 64-bit event counters: bit 0 must be refused, bit 1 alone granted.
    err = counter_open(&c, PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS,
                       CONFIG1_64BIT | CONFIG1_USER);
    refused = c.config1 == CONFIG1_USER;
  } else {
    // Bit 1 alone: a 32-bit counter even where a 64-bit one would be granted.
    err = counter_open(&c, PERF_TYPE_RAW, ARMV8_CPU_CYCLES, CONFIG1_USER);
  }
  if (err) {
    result("wrap", 0, "event=%s open errno=%d", event, -err);
    return 1;
  }
  struct user_read u = userspace_read(&c);
  if (u.width != 32 || !refused) {
    result("wrap", 0, "event=%s pmc_width=%u (want 32) index=%u config1=0x%llx",
           event, u.width, u.index, (unsigned long long)c.config1);
    return 1;
  }
  const uint64_t target = (1ull << 32) + (1ull << 28);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (syscall_read(&c) < target) spin(10000000);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  char why[256] = "";
  int good = bracket(&c, BRACKET_SAMPLES, why, sizeof why);
  uint64_t a = syscall_read(&c);
  struct user_read after = userspace_read(&c);
  uint64_t b = syscall_read(&c);
  uint64_t raw = read_register(after.index);
  result("wrap", good == BRACKET_SAMPLES && after.value > (1ull << 32),
         "event=%s config1=0x%llx pmc_width=%u index=%u read=%llu user=%llu "
         "read2=%llu raw_reg=0x%llx bracket=%d/%d secs=%.1f %s",
         event, (unsigned long long)c.config1, after.width, after.index, (unsigned long long)a,
         (unsigned long long)after.value, (unsigned long long)b,
         (unsigned long long)raw, good, BRACKET_SAMPLES,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
         why);
  return 0;
}

static int cmd_off(void) {
  struct counter c;
  int err = counter_open(&c, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES,
                         CONFIG1_64BIT | CONFIG1_USER);
  if (err) {
    result("off", 0, "open errno=%d", -err);
    return 1;
  }
  spin(100000);
  int zero = 1;
  for (int i = 0; i < 100; i++) {
    if (c.page->index != 0) zero = 0;
    spin(1000);
  }
  uint64_t v = syscall_read(&c);
  result("off", zero && v > 0,
         "index=%u cap_user_rdpmc=%u read=%llu (index must stay 0)",
         c.page->index, (unsigned)c.page->cap_user_rdpmc,
         (unsigned long long)v);
  return 0;
}

static uint64_t instructions_over(const struct counter *c, uint64_t k) {
  uint64_t before = syscall_read(c);
  spin(k);
  return syscall_read(c) - before;
}

static int cmd_icount(uint64_t k) {
  struct counter c;
  int err = counter_open(&c, PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS,
                         CONFIG1_64BIT | CONFIG1_USER);
  if (err) {
    result("icount", 0, "open INSTRUCTIONS errno=%d", -err);
    return 1;
  }
  // The issue asks for 5 of 5; C is cheap enough to ask for 100 of 100.
  enum { samples = 100 };
  uint64_t first = instructions_over(&c, k), least = first, most = first;
  int same = 1;
  for (int i = 1; i < samples; i++) {
    uint64_t n = instructions_over(&c, k);
    if (n == first) same++;
    if (n < least) least = n;
    if (n > most) most = n;
  }
  uint64_t twice = instructions_over(&c, 2 * k);
  const uint64_t body = 2;  // subs + b.ne
  int more = twice >= first + k * body;
  result("icount", same == samples && more,
         "K=%llu count=%llu same=%d/%d range=%llu..%llu count2K=%llu "
         "need>=%llu config1=0x%llx",
         (unsigned long long)k, (unsigned long long)first, same, samples,
         (unsigned long long)least, (unsigned long long)most,
         (unsigned long long)twice, (unsigned long long)(first + k * body),
         (unsigned long long)c.config1);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: smoke basic|multi|multi32|group|wrap|off|icount [arg]\n");
    return 2;
  }
  const char *cmd = argv[1];
  const char *arg = argc > 2 ? argv[2] : NULL;
  if (strcmp(cmd, "basic") == 0) cmd_basic(arg ? atoi(arg) : 64);
  else if (strcmp(cmd, "multi") == 0)
    cmd_multi("multi", arg ? atoi(arg) : 6, CONFIG1_64BIT | CONFIG1_USER, 64);
  else if (strcmp(cmd, "multi32") == 0)
    cmd_multi("multi32", arg ? atoi(arg) : 6, CONFIG1_USER, 32);
  else if (strcmp(cmd, "wrap") == 0) cmd_wrap(arg ? arg : "r11");
  else if (strcmp(cmd, "group") == 0) cmd_group(arg ? atoi(arg) : 4);
  else if (strcmp(cmd, "off") == 0) cmd_off();
  else if (strcmp(cmd, "icount") == 0)
    cmd_icount(arg ? strtoull(arg, NULL, 10) : 100000);
  else {
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
  }
  return failures ? 1 : 0;
}
