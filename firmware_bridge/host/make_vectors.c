/* make_vectors.c - writes test vectors for the twitchwatch firmware-bridge protocol.
 *
 *   make_vectors OUT.bin OUT.json
 *
 * OUT.bin holds INFO and SAMPLES frames exactly as tw_frame.c encodes them
 * (deterministic content, sequence numbers wrapping 65535 -> 0); OUT.json says what a
 * decoder must get from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tw_frame.h"

#define CHANNELS 4
#define RATE_HZ 1000
#define UV_PER_COUNT 0.1953125f /* 25/128, exact in binary32 */
#define NAME "tw-vectors"

static int16_t count_at(unsigned frame, unsigned s, unsigned c)
{
    /* Covers both int16 extremes and signs. */
    long v = ((long)frame * 7919L + (long)s * 104729L + (long)c * 15485863L) % 65536L;
    if (frame == 1 && s == 0 && c == 0) return (int16_t)-32768;
    if (frame == 1 && s == 0 && c == 1) return (int16_t)32767;
    if (frame == 1 && s == 0 && c == 2) return (int16_t)-1;
    if (frame == 1 && s == 0 && c == 3) return 0;
    return (int16_t)(v - 32768L);
}

int main(int argc, char **argv)
{
    static const uint16_t seqs[] = {65532, 65533, 65534, 65535, 0, 1, 2, 3};
    static const uint8_t ns[] = {5, 5, 31, 1, 5, 10, 5, 5};
    const unsigned n_frames = sizeof seqs / sizeof seqs[0];
    uint8_t frame[TW_MAX_FRAME];
    int16_t counts[TW_MAX_COUNTS];
    FILE *fb, *fj;
    unsigned f, s, c;
    size_t len;
    int first = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT.bin OUT.json\n", argv[0]);
        return 2;
    }
    fb = fopen(argv[1], "wb");
    fj = fopen(argv[2], "w");
    if (!fb || !fj) {
        perror("make_vectors: open");
        return 1;
    }
    fprintf(fj, "{\n  \"crc_check\": {\"input\": \"123456789\", \"crc\": %u},\n",
            (unsigned)tw_crc16((const uint8_t *)"123456789", 9));
    fprintf(fj, "  \"channels\": %d, \"rate_hz\": %d, \"uv_per_count\": %.9g, "
                "\"name\": \"%s\",\n  \"frames\": [\n", CHANNELS, RATE_HZ,
            (double)UV_PER_COUNT, NAME);
    for (f = 0; f < n_frames; f++) {
        if (f == 0 || f == 4) { /* INFO at start and once mid-stream */
            len = tw_encode_info(frame, CHANNELS, RATE_HZ, UV_PER_COUNT, NAME);
            if (len == 0 || fwrite(frame, 1, len, fb) != len) return 1;
            fprintf(fj, "%s    {\"type\": \"info\", \"length\": %u}", first ? "" : ",\n",
                    (unsigned)len);
            first = 0;
        }
        for (s = 0; s < ns[f]; s++)
            for (c = 0; c < CHANNELS; c++)
                counts[s * CHANNELS + c] = count_at(f, s, c);
        len = tw_encode_samples(frame, seqs[f], ns[f], CHANNELS, counts);
        if (len == 0 || fwrite(frame, 1, len, fb) != len) return 1;
        fprintf(fj, ",\n    {\"type\": \"samples\", \"length\": %u, \"seq\": %u, \"n\": %u, "
                    "\"counts\": [", (unsigned)len, (unsigned)seqs[f], (unsigned)ns[f]);
        for (s = 0; s < ns[f]; s++) {
            fprintf(fj, "%s[", s ? ", " : "");
            for (c = 0; c < CHANNELS; c++)
                fprintf(fj, "%s%d", c ? ", " : "", (int)counts[s * CHANNELS + c]);
            fprintf(fj, "]");
        }
        fprintf(fj, "]}");
    }
    fprintf(fj, "\n  ]\n}\n");
    if (fclose(fb) != 0 || fclose(fj) != 0) {
        perror("make_vectors: close");
        return 1;
    }
    return 0;
}
