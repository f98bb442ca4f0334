from tailorlm.metrics import METRIC_NAMES
from tailorlm.tasks import KNOWN_METRICS


def test_task_validation_knows_every_registered_metric():
    assert set(METRIC_NAMES) == set(KNOWN_METRICS)
