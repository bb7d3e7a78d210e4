/*
 * machine.c - what the figures were measured on: CPU vendor and model,
 * cores, the last-level cache (which sizes every rotating set), the path
 * the checksum takes, memory, kernel and the file system of the files.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

/* The library's own description of its checksum path (core/src/checksum.c,
 * internal: reachable because the bench links the static library). */
const char *mf__checksum_path(void);

/* "key : value" line of /proc/cpuinfo: copy value when the key matches. */
static bool cpuinfo_field(const char *line, const char *key, char *dst, size_t cap)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || (line[k] != ' ' && line[k] != '\t' && line[k] != ':'))
        return false;
    const char *colon = strchr(line + k, ':');
    if (!colon)
        return false;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    snprintf(dst, cap, "%s", v);
    dst[strcspn(dst, "\n")] = '\0';
    return true;
}

static void probe_cpuinfo(machine *m)
{
    snprintf(m->vendor, sizeof m->vendor, "unknown vendor");
    snprintf(m->model, sizeof m->model, "unknown model");
    m->family = m->model_no = m->stepping = -1;
    m->cores = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[4096], v[256];
    int cores_per_pkg = -1;
    uint64_t pkgs = 0; /* bit per physical id seen (ids below 64) */
    bool first = true; /* vendor/model of the first processor entry */
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' && first)
            first = false;
        if (first && cpuinfo_field(line, "vendor_id", v, sizeof v))
            strfmt(m->vendor, sizeof m->vendor, "%s", v);
        else if (first && cpuinfo_field(line, "model name", v, sizeof v))
            strfmt(m->model, sizeof m->model, "%s", v);
        else if (first && cpuinfo_field(line, "cpu family", v, sizeof v))
            m->family = atoi(v);
        else if (first && cpuinfo_field(line, "model", v, sizeof v))
            m->model_no = atoi(v);
        else if (first && cpuinfo_field(line, "stepping", v, sizeof v))
            m->stepping = atoi(v);
        else if (cpuinfo_field(line, "cpu cores", v, sizeof v))
            cores_per_pkg = atoi(v);
        else if (cpuinfo_field(line, "physical id", v, sizeof v)) {
            int id = atoi(v);
            if (id >= 0 && id < 64)
                pkgs |= 1ull << id;
        } else if (first && cpuinfo_field(line, "flags", v, sizeof v))
            m->virtual_machine = strstr(v, "hypervisor") != NULL;
    }
    fclose(f);
    if (cores_per_pkg > 0)
        m->cores = cores_per_pkg * (pkgs ? __builtin_popcountll(pkgs) : 1);
}

/* Size of the highest-level data or unified cache cpu0 reports in sysfs. */
static uint64_t llc_from_sysfs(int *level_out)
{
    uint64_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char p[128], buf[64];
        int level = 0;
        uint64_t size = 0;
        snprintf(p, sizeof p, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof buf, f))
            level = atoi(buf);
        fclose(f);
        snprintf(p, sizeof p, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!(f = fopen(p, "r")))
            continue;
        bool instr = fgets(buf, sizeof buf, f) && strncmp(buf, "Instruction", 11) == 0;
        fclose(f);
        snprintf(p, sizeof p, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (instr || !(f = fopen(p, "r")))
            continue;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            size = strtoull(buf, &end, 10);
            if (*end == 'K')
                size <<= 10;
            else if (*end == 'M')
                size <<= 20;
        }
        fclose(f);
        if (level > best_level && size) {
            best_level = level;
            best = size;
        }
    }
    *level_out = best_level;
    return best;
}

static void probe_llc(machine *m)
{
    int level;
    uint64_t s = llc_from_sysfs(&level);
    if (s) {
        m->llc = s;
        snprintf(m->llc_source, sizeof m->llc_source,
                 "L%d of cpu0 in /sys/devices/system/cpu", level);
        return;
    }
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l3 > 0) {
        m->llc = (uint64_t)l3;
        snprintf(m->llc_source, sizeof m->llc_source, "sysconf(_SC_LEVEL3_CACHE_SIZE)");
    } else if (l2 > 0) {
        m->llc = (uint64_t)l2;
        snprintf(m->llc_source, sizeof m->llc_source,
                 "sysconf(_SC_LEVEL2_CACHE_SIZE), no L3 reported");
    } else {
        m->llc = 32u << 20;
        snprintf(m->llc_source, sizeof m->llc_source,
                 "assumed: neither sysfs nor sysconf reports a cache size");
    }
}

static void probe_checksum(machine *m)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        m->checksum_path = "AVX-512";
    else if (__builtin_cpu_supports("avx2"))
        m->checksum_path = "AVX2";
    else
        m->checksum_path = "SSE2";
#else
    m->checksum_path = "scalar (not x86)";
#endif
    m->lib_checksum_path = mf__checksum_path();
}

static void probe_fs(machine *m)
{
    struct statfs sf;
    if (statfs(B.dir, &sf) != 0) {
        snprintf(m->fs, sizeof m->fs, "unknown");
        return;
    }
    static const struct {
        unsigned long magic;
        const char *name;
    } fs[] = {{0x01021994, "tmpfs"},    {0xEF53, "ext4"},
              {0x58465342, "xfs"},      {0x9123683E, "btrfs"},
              {0x794c7630, "overlayfs"}, {0x2fc12fc1, "zfs"}};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        if ((unsigned long)sf.f_type == fs[i].magic) {
            snprintf(m->fs, sizeof m->fs, "%s", fs[i].name);
            return;
        }
    snprintf(m->fs, sizeof m->fs, "fs 0x%lx", (unsigned long)sf.f_type);
}

void machine_probe(void)
{
    machine *m = &B.m;
    probe_cpuinfo(m);
    m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    probe_llc(m);
    probe_checksum(m);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    m->ram = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    struct utsname u;
    if (uname(&u) == 0)
        strfmt(m->kernel, sizeof m->kernel, "%s %s", u.sysname, u.release);
    probe_fs(m);
}

const char *machine_line(void)
{
    static char line[768];
    const machine *m = &B.m;
    char cores[32] = "";
    if (m->cores > 0)
        snprintf(cores, sizeof cores, " (%d physical cores)", m->cores);
    strfmt(line, sizeof line,
           "%s %s (family %d, model %d, stepping %d)%s; %ld CPUs online%s; "
           "LLC %.4g MiB (%s); checksum path %s (library: %s); %.3g GiB RAM; "
           "%s; files on %s",
           m->vendor, m->model, m->family, m->model_no, m->stepping,
           m->virtual_machine ? ", a virtual machine" : "", m->cpus, cores,
           (double)m->llc / 1048576.0, m->llc_source, m->checksum_path,
           m->lib_checksum_path, (double)m->ram / 1073741824.0, m->kernel, m->fs);
    return line;
}
