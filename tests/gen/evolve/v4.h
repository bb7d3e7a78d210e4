/* evo version 4: vals (a counted array) and extra (an optional nested
 * struct holding a string) removed; level i32 -> i64, count16 i32 -> f64;
 * struct pos reordered, y and tag removed, stamp added; a field that is
 * never stored (MF_SKIP) added. */
#ifndef EVO_H
#define EVO_H
#include <mapfile/gen.h>
#include <stdint.h>

struct pos {
    uint64_t stamp;
    int8_t z;
    int32_t x;
};

struct evo {
    double count16;
    struct pos corners[2];
    uint8_t *tags MF_COUNT(ntags);
    uint16_t ntags;
    int64_t level;
    char *label;
    double ratio;
    struct pos where;
    double weights[2];
    uint32_t serial;
    void *cache MF_SKIP;
};
#endif
