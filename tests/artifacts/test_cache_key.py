"""The cache key is a pure function of the template, the resolved params and the digests of
the input artifacts."""

from polyflow.scheduler.cache_key import cache_key
from polyflow.spec.plan import ContainerSpec, IOSpec, TemplateSpec

TEMPLATE = TemplateSpec(kind="job", name="train", inputs=(IOSpec("lr", "float"), IOSpec("data", "path")),
                        container=ContainerSpec(image="python:3.11", command=("python", "train.py")))


def key(template=TEMPLATE, params=None, digests=None):
    return cache_key(template, {"lr": 0.1, "data": "s3://b/p/data"} if params is None else params,
                     {"data": "sha256:aa"} if digests is None else digests)


def test_the_same_work_has_the_same_key():
    assert key() == key() and len(key()) == 64
    assert key(params={"data": "s3://b/p/data", "lr": 0.1}) == key()  # order does not matter


def test_an_artifact_counts_by_its_digest_not_its_uri():
    assert key(params={"lr": 0.1, "data": "s3://elsewhere/data"}) == key()
    assert key(digests={"data": "sha256:bb"}) != key()


def test_params_and_template_change_the_key():
    assert key(params={"lr": 0.2, "data": "s3://b/p/data"}) != key()
    assert key(params={"lr": 0.1, "data": "s3://b/p/data", "extra": None}) != key()
    other = TemplateSpec(kind="job", name="train", inputs=TEMPLATE.inputs,
                         container=ContainerSpec(image="python:3.12", command=("python", "train.py")))
    assert key(template=other) != key()


def test_a_value_that_looks_like_another_type_is_another_value():
    assert key(params={"lr": "0.1", "data": "x"}) != key(params={"lr": 0.1, "data": "x"})
