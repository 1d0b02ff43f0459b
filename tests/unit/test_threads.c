/* The default compute thread count (wh_pool_default_threads): one per physical core among the
 * allowed CPUs, at most the cgroup's CPU quota — checked on made-up /sys trees and
 * /proc/self/cgroup texts, then on this machine. */
#include "harness.h"
#include "whisper/threadpool.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

/* writes text to root/rel, making its directories */
static int put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* cpuN's topology */
static void topo(int cpu, int pkg, int core)
{
    char rel[128], v[32];
    snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/topology/core_id", cpu);
    snprintf(v, sizeof v, "%d\n", core);
    put(rel, v);
    snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
    snprintf(v, sizeof v, "%d\n", pkg);
    put(rel, v);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_threads.XXXXXX");
    if (!mkdtemp(root)) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    /* 8 logical CPUs: package 0 cores 0-1, package 1 cores 0-1 (the same core ids), two
     * SMT threads each: cpu n and cpu n + 4 are siblings */
    for (int c = 0; c < 4; c++) {
        topo(c, c / 2, c % 2);
        topo(c + 4, c / 2, c % 2);
    }
    const int all[8] = {0, 1, 2, 3, 4, 5, 6, 7}, sib[2] = {0, 4}, two[2] = {0, 1}, pk[2] = {1, 2};

    TEST("one thread per physical core among the allowed CPUs (SMT siblings count once; core ids repeat across packages)") {
        CHECK(wh_pool_threads_for(root, NULL, all, 8) == 4);
        CHECK(wh_pool_threads_for(root, NULL, sib, 2) == 1);
        CHECK(wh_pool_threads_for(root, NULL, two, 2) == 2);
        CHECK(wh_pool_threads_for(root, NULL, pk, 2) == 2);
        CHECK(wh_pool_threads_for(root, NULL, all, 0) == 1);
    }

    TEST("no topology files for a CPU: one thread per allowed CPU") {
        const int with9[3] = {0, 4, 9};
        CHECK(wh_pool_threads_for(root, NULL, with9, 3) == 3);
        CHECK(wh_pool_threads_for("/nonexistent", NULL, all, 8) == 8);
    }

    TEST("a cgroup v2 quota (cpu.max) caps it, rounded up; 'max' and missing files do not") {
        put("fs/cgroup/svc/speech/cpu.max", "150000 100000\n");
        CHECK(wh_pool_threads_for(root, "0::/svc/speech\n", all, 8) == 2);
        put("fs/cgroup/svc/speech/cpu.max", "max 100000\n");
        CHECK(wh_pool_threads_for(root, "0::/svc/speech\n", all, 8) == 4);
        CHECK(wh_pool_threads_for(root, "0::/elsewhere\n", all, 8) == 4);
        put("fs/cgroup/cpu.max", "800000 100000\n");   /* a quota above the cores: the cores */
        CHECK(wh_pool_threads_for(root, "0::/\n", all, 8) == 4);
        put("fs/cgroup/unified/hy/cpu.max", "100000 100000\n");   /* a hybrid system's v2 mount */
        CHECK(wh_pool_threads_for(root, "0::/hy\n", all, 8) == 1);
        put("fs/cgroup/user.slice/cpu.max", "300000 100000\n");   /* a slice's quota binds the service below it */
        put("fs/cgroup/user.slice/app.service/cpu.max", "max 100000\n");
        CHECK(wh_pool_threads_for(root, "0::/user.slice/app.service\n", all, 8) == 3);
    }

    TEST("a cgroup v1 quota (cpu.cfs_quota_us / cpu.cfs_period_us) caps it; -1 does not") {
        put("fs/cgroup/cpu,cpuacct/box/cpu.cfs_quota_us", "250000\n");
        put("fs/cgroup/cpu,cpuacct/box/cpu.cfs_period_us", "100000\n");
        const char *cg = "12:pids:/box\n4:cpu,cpuacct:/box\n1:name=systemd:/box\n0::/box\n";
        CHECK(wh_pool_threads_for(root, cg, all, 8) == 3);
        put("fs/cgroup/cpu,cpuacct/box/inner/cpu.cfs_quota_us", "-1\n");   /* the parent's quota binds */
        put("fs/cgroup/cpu,cpuacct/box/inner/cpu.cfs_period_us", "100000\n");
        CHECK(wh_pool_threads_for(root, "4:cpu,cpuacct:/box/inner\n", all, 8) == 3);
        put("fs/cgroup/cpu,cpuacct/box/cpu.cfs_quota_us", "-1\n");
        CHECK(wh_pool_threads_for(root, cg, all, 8) == 4);
        CHECK(wh_pool_threads_for(root, "garbage without colons\n::\n", all, 8) == 4);
    }

    TEST("on this machine: between 1 and the CPUs this process may run on") {
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
        const int t = wh_pool_default_threads();
        CHECKF(t >= 1 && t <= n, "%d threads for %d CPUs", t, n);
        printf("# default threads here: %d (%d CPUs allowed)\n", t, n);
    }

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("# could not remove %s\n", root);
    TEST_EXIT();
}
