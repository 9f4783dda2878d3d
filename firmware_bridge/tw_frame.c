/* tw_frame.c - encoder for the twitchwatch firmware-bridge protocol, version 1. */
#include "tw_frame.h"

#include <string.h>

uint16_t tw_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            if (crc & 0x8000u)
                crc = (uint16_t)((crc << 1) ^ 0x1021u);
            else
                crc = (uint16_t)(crc << 1);
        }
    }
    return crc;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

/* Writes header, payload length and CRC around a payload already at out + 4. */
static size_t finish_frame(uint8_t *out, uint8_t type, size_t payload_len)
{
    out[0] = TW_SYNC0;
    out[1] = TW_SYNC1;
    out[2] = type;
    out[3] = (uint8_t)payload_len;
    put_u16(out + 4 + payload_len, tw_crc16(out + 2, payload_len + 2));
    return payload_len + TW_OVERHEAD;
}

size_t tw_encode_info(uint8_t *out, uint8_t channels, uint16_t rate_hz,
                      float uv_per_count, const char *name)
{
    uint8_t *p = out + 4;
    uint32_t bits;
    size_t n = 0;
    if (channels < 1 || channels > TW_MAX_CHANNELS)
        return 0;
    memcpy(&bits, &uv_per_count, sizeof bits); /* IEEE-754 binary32 assumed */
    p[0] = TW_PROTOCOL_VERSION;
    p[1] = channels;
    put_u16(p + 2, rate_hz);
    p[4] = (uint8_t)(bits & 0xFFu);
    p[5] = (uint8_t)((bits >> 8) & 0xFFu);
    p[6] = (uint8_t)((bits >> 16) & 0xFFu);
    p[7] = (uint8_t)((bits >> 24) & 0xFFu);
    if (name != NULL) {
        while (n < TW_MAX_NAME && name[n] != '\0') {
            p[TW_INFO_FIXED + n] = (uint8_t)name[n];
            n++;
        }
    }
    return finish_frame(out, TW_TYPE_INFO, TW_INFO_FIXED + n);
}

size_t tw_encode_samples(uint8_t *out, uint16_t seq, uint8_t n_per_channel,
                         uint8_t channels, const int16_t *counts)
{
    uint8_t *p = out + 4;
    size_t total, i;
    if (channels < 1 || channels > TW_MAX_CHANNELS || n_per_channel == 0)
        return 0;
    total = (size_t)n_per_channel * channels;
    if (total > TW_MAX_COUNTS)
        return 0;
    put_u16(p, seq);
    p[2] = n_per_channel;
    for (i = 0; i < total; i++)
        put_u16(p + TW_SAMPLES_FIXED + 2 * i, (uint16_t)counts[i]);
    return finish_frame(out, TW_TYPE_SAMPLES, TW_SAMPLES_FIXED + 2 * total);
}
