/* tw_frame.h - twitchwatch firmware-bridge protocol, version 1 (see PROTOCOL.md).
 *
 * Portable C99: no malloc, no Arduino headers, output is little-endian whatever the
 * host byte order. Frame: A5 5A | type | L | payload[L] | CRC-16/CCITT-FALSE (LE)
 * over type, L and payload.
 */
#ifndef TW_FRAME_H
#define TW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_SYNC0 0xA5u
#define TW_SYNC1 0x5Au
#define TW_TYPE_INFO 0x01u
#define TW_TYPE_SAMPLES 0x02u
#define TW_PROTOCOL_VERSION 1u
#define TW_MAX_PAYLOAD 255u
#define TW_OVERHEAD 6u                                /* sync(2) type(1) len(1) crc(2) */
#define TW_MAX_FRAME (TW_MAX_PAYLOAD + TW_OVERHEAD)   /* 261: size every `out` buffer so */
#define TW_MAX_CHANNELS 16u
#define TW_INFO_FIXED 8u                              /* version, C, rate, scale */
#define TW_MAX_NAME (TW_MAX_PAYLOAD - TW_INFO_FIXED)  /* 247 characters */
#define TW_SAMPLES_FIXED 3u                           /* seq, N */
/* N x C must not exceed this so that the payload fits in 255 bytes. */
#define TW_MAX_COUNTS ((TW_MAX_PAYLOAD - TW_SAMPLES_FIXED) / 2u)   /* 126 */

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.
 * tw_crc16((const uint8_t *)"123456789", 9) == 0x29B1. */
uint16_t tw_crc16(const uint8_t *data, size_t len);

/* INFO frame into out (at least TW_MAX_FRAME bytes). The name is truncated to
 * TW_MAX_NAME characters (NULL = empty). Returns the frame length, or 0 if channels is
 * not 1..16. uv_per_count is written as an IEEE-754 binary32. */
size_t tw_encode_info(uint8_t *out, uint8_t channels, uint16_t rate_hz,
                      float uv_per_count, const char *name);

/* SAMPLES frame into out (at least TW_MAX_FRAME bytes): counts holds
 * n_per_channel x channels values, sample-major (s0c0 s0c1 ... s1c0 ...). Returns the
 * frame length, or 0 if channels is not 1..16, n_per_channel is 0, or N x C > 126. */
size_t tw_encode_samples(uint8_t *out, uint16_t seq, uint8_t n_per_channel,
                         uint8_t channels, const int16_t *counts);

#ifdef __cplusplus
}
#endif

#endif /* TW_FRAME_H */
