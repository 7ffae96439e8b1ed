/*
 * refread: the floor for one sidewatch tick. It reads the same procfs files sidewatch reads for
 * a target selected by comm, and does nothing else:
 *   - list /proc and read every process's stat (discovery by comm, as sidewatch does),
 *   - for each match: status, io, schedstat, the size of fd/ (the open fd count on Linux >= 6.2,
 *     counting entries otherwise), and limits once per (pid, start time),
 *   - parse the figures sidewatch uses, and sum them so the compiler cannot drop the work.
 *
 * Usage: refread COMM SECONDS [INTERVAL_MS]
 * Repeats the scan for SECONDS (at least 5 times), back to back or, with INTERVAL_MS, one scan
 * every INTERVAL_MS like sidewatch's ticks (caches cool down between scans just as they do for
 * sidewatch), and prints one line with the mean wall and CPU time of one scan:
 *   matched=N iterations=K wall_us_per_iter=W cpu_us_per_iter=C checksum=S
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

/* Reads <dirfd>/<name> into buf; returns the length, or -1. */
static ssize_t slurp(int dirfd, const char *name) {
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    return n;
}

/* The unsigned number after "key" on its line, or 0. */
static uint64_t field(const char *text, const char *key) {
    const char *p = strstr(text, key);
    if (!p) return 0;
    p += strlen(key);
    while (*p == ' ' || *p == '\t' || *p == ':') p++;
    return strtoull(p, NULL, 10);
}

#define MAXSEEN 65536
static struct { int pid; uint64_t start; } seen[MAXSEEN];
static int nseen;

static int limits_known(int pid, uint64_t start) {
    for (int i = 0; i < nseen; i++)
        if (seen[i].pid == pid && seen[i].start == start) return 1;
    if (nseen < MAXSEEN) { seen[nseen].pid = pid; seen[nseen].start = start; nseen++; }
    return 0;
}

static uint64_t checksum;

/* One tick; returns the number of matching processes. */
static int tick(const char *comm) {
    int matched = 0;
    DIR *proc = opendir("/proc");
    if (!proc) { perror("/proc"); exit(1); }
    struct dirent *e;
    while ((e = readdir(proc))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int dfd = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) continue;
        if (slurp(dfd, "stat") <= 0) { close(dfd); continue; }
        char *open = strchr(buf, '('), *close_ = strrchr(buf, ')');
        if (!open || !close_) { close(dfd); continue; }
        size_t clen = (size_t)(close_ - open - 1);
        if (clen != strlen(comm) || memcmp(open + 1, comm, clen) != 0) { close(dfd); continue; }
        matched++;
        /* Fields after ")": state(3) ppid(4) ... minflt(10) majflt(12) utime(14) stime(15)
           num_threads(20) starttime(22) vsize(23). */
        uint64_t f[24] = {0};
        char *p = close_ + 2;
        for (int i = 3; i <= 23 && *p; i++) {
            f[i] = strtoull(p, &p, 10);
            if (i == 3) { p = strchr(p, ' '); if (!p) break; }
            while (*p == ' ') p++;
        }
        int pid = atoi(e->d_name);
        checksum += f[10] + f[12] + f[14] + f[15] + f[20] + f[23];
        if (slurp(dfd, "status") > 0)
            checksum += field(buf, "VmRSS") + field(buf, "VmSwap") +
                        field(buf, "voluntary_ctxt_switches") + field(buf, "nonvoluntary_ctxt_switches");
        if (slurp(dfd, "io") > 0) checksum += field(buf, "read_bytes") + field(buf, "write_bytes");
        if (slurp(dfd, "schedstat") > 0) {
            char *q;
            strtoull(buf, &q, 10);
            checksum += strtoull(q, NULL, 10);
        }
        struct stat st;
        if (fstatat(dfd, "fd", &st, 0) == 0) {
            if (st.st_size > 0) {
                checksum += (uint64_t)st.st_size;
            } else {
                int fdd = openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                DIR *d = fdd >= 0 ? fdopendir(fdd) : NULL;
                if (d) {
                    struct dirent *x;
                    while ((x = readdir(d))) checksum += x->d_name[0] != '.';
                    closedir(d);
                }
            }
        }
        if (!limits_known(pid, f[22]) && slurp(dfd, "limits") > 0)
            checksum += field(buf, "Max open files");
        close(dfd);
    }
    closedir(proc);
    return matched;
}

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) { fprintf(stderr, "usage: refread COMM SECONDS [INTERVAL_MS]\n"); return 2; }
    const char *comm = argv[1];
    double seconds = atof(argv[2]);
    double interval = argc == 4 ? atof(argv[3]) / 1e3 : 0;
    int matched = tick(comm); /* warm-up; also reads limits once per process, as sidewatch does */
    double start = now(CLOCK_MONOTONIC), next = start, wall = 0, cpu = 0;
    long iters = 0;
    do {
        if (interval > 0) {
            next += interval;
            double wait = next - now(CLOCK_MONOTONIC);
            if (wait > 0) {
                struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };
                nanosleep(&ts, NULL);
            }
        }
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        matched = tick(comm);
        wall += now(CLOCK_MONOTONIC) - w0;
        cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        iters++;
    } while (iters < 5 || now(CLOCK_MONOTONIC) - start < seconds);
    printf("matched=%d iterations=%ld wall_us_per_iter=%.1f cpu_us_per_iter=%.1f checksum=%llu\n",
           matched, iters, wall / iters * 1e6, cpu / iters * 1e6, (unsigned long long)checksum);
    return 0;
}
