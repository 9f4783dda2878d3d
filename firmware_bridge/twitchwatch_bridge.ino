// twitchwatch_bridge.ino - streams C analog EMG inputs (MyoWare-style envelope or raw
// outputs) to the host in the twitchwatch firmware-bridge protocol, version 1
// (PROTOCOL.md). tw_frame.c/.h sit in this sketch folder and are compiled with it.
//
// Timing: a micros()-based scheduler. The next sample time advances by exactly
// SAMPLE_PERIOD_US from the previous *scheduled* time, not from "now", so the rate has
// no drift; if the loop falls behind by more than MAX_LAG_SAMPLES, the missed ticks are
// skipped and the frame sequence number is advanced so the host sees the loss as a gap
// instead of receiving time-shifted data.
// Serial.write only copies into the USB/UART buffer; at 1000 Hz x 8 channels the link
// needs ~17 kB/s, so use native USB or a UART at >= 460800 baud.

#include "tw_frame.h"

// ---- configuration ------------------------------------------------------------------
static const uint8_t CHANNELS = 4;                    // 1..16
static const uint8_t PINS[CHANNELS] = {A0, A1, A2, A3};
static const uint16_t RATE_HZ = 1000;
static const uint8_t N_PER_FRAME = 10;                // N x CHANNELS <= 126
static const unsigned long BAUD = 921600;
// Microvolts per ADC count at the electrodes: ADC reference / full scale / front-end
// gain. Example: 3.3 V, 12-bit ADC, gain 201 -> 3.3e6 / 4096 / 201 = 4.008 uV per count.
static const float UV_PER_COUNT = 3.3e6f / 4096.0f / 201.0f;
static const int ADC_MIDSCALE = 2048;                 // count of 0 V differential
static const char DEVICE_NAME[] = "twitchwatch-bridge";
static const uint8_t ADC_BITS = 12;                   // analogReadResolution, if any
// --------------------------------------------------------------------------------------

static const unsigned long SAMPLE_PERIOD_US = 1000000UL / RATE_HZ;
static const unsigned long INFO_PERIOD_US = 1000000UL;
static const unsigned long MAX_LAG_SAMPLES = 5;

static int16_t counts[N_PER_FRAME * CHANNELS];
static uint8_t frame[TW_MAX_FRAME];
static uint8_t n_in_frame = 0;
static uint16_t seq = 0;
static unsigned long next_sample_us;
static unsigned long last_info_us;
static unsigned long skipped_samples = 0;             // lag skips not yet turned into seq

static void send_info(void)
{
  size_t len = tw_encode_info(frame, CHANNELS, RATE_HZ, UV_PER_COUNT, DEVICE_NAME);
  Serial.write(frame, len);
}

static void send_samples(void)
{
  size_t len = tw_encode_samples(frame, seq, n_in_frame, CHANNELS, counts);
  Serial.write(frame, len);
  seq++;                                              // wraps 65535 -> 0
  n_in_frame = 0;
}

void setup()
{
  Serial.begin(BAUD);
#if defined(ARDUINO_ARCH_SAMD) || defined(ARDUINO_ARCH_RP2040) || defined(ESP32) || defined(TEENSYDUINO)
  analogReadResolution(ADC_BITS);
#endif
  send_info();
  last_info_us = micros();
  next_sample_us = micros() + SAMPLE_PERIOD_US;
}

void loop()
{
  unsigned long now = micros();
  if ((long)(now - next_sample_us) < 0)
    return;                                           // not yet time (wrap-safe compare)

  unsigned long lag = (now - next_sample_us) / SAMPLE_PERIOD_US;
  if (lag > MAX_LAG_SAMPLES) {
    // Fell far behind: drop the partial frame and the missed ticks, and tell the host
    // through the sequence number (it counts (jump - 1) x N lost samples).
    unsigned long missed = lag + n_in_frame;
    n_in_frame = 0;
    skipped_samples += missed;
    seq += (uint16_t)(skipped_samples / N_PER_FRAME);
    skipped_samples %= N_PER_FRAME;
    next_sample_us += (lag + 1) * SAMPLE_PERIOD_US;
    return;
  }
  next_sample_us += SAMPLE_PERIOD_US;

  int16_t *row = &counts[n_in_frame * CHANNELS];
  for (uint8_t c = 0; c < CHANNELS; c++)
    row[c] = (int16_t)(analogRead(PINS[c]) - ADC_MIDSCALE);
  n_in_frame++;

  if (n_in_frame == N_PER_FRAME) {
    send_samples();
    if ((unsigned long)(now - last_info_us) >= INFO_PERIOD_US) {
      send_info();                                    // between frames, never inside one
      last_info_us = now;
    }
  }
}
