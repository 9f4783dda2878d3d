"""twitchwatch: find muscle twitches in wearable surface EMG."""
import os as _os

# One BLAS thread, unless the user says otherwise: the hum guard's small products gain
# nothing from more, and a second thread sums them in another order, which moves the
# last bits of the features (and a burst at a threshold with them) and made a model
# trained on two cores differ from one trained on one. It takes effect when twitchwatch
# is imported before numpy, as the command line and the training script do.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
