/* evo version 1 (tests/gen_evolve.sh): the first struct of class "evo". */
#ifndef EVO_H
#define EVO_H
#include <mapfile/gen.h>
#include <stdint.h>

struct pos {
    int16_t x;
    int16_t y;
};

struct evo {
    int8_t level;
    float ratio;
    uint16_t count16;
    struct pos where;
    char *note;
    uint32_t nvals;
    int16_t *vals MF_COUNT(nvals);
    uint8_t legacy[3];
    struct pos *extra;
    uint32_t serial;
};
#endif
