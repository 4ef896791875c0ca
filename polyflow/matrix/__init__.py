"""Matrix ops (DESIGN section 9): trials from spaces or mappings, early stopping, the best trial.

Pure: plain data in (the plan's MatrixSpec, TrialViews), plain data out. The
spec uses it to check matrices (spaces, kinds), the scheduler to make and end
groups. No Django here.
"""

from .early_stopping import Verdict, early_stop
from .errors import MatrixError
from .expansion import expand, size
from .ranking import best_trial
from .status import group_status
from .trials import TrialView

__all__ = ["MatrixError", "TrialView", "Verdict", "best_trial", "early_stop", "expand", "group_status", "size"]
