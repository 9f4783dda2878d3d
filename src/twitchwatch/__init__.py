"""twitchwatch: find muscle twitches in wearable surface EMG."""
__version__ = "0.1.0"
