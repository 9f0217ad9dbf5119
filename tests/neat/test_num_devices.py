"""training.num_devices: checked by name, kept in YAML; outside a process group no agreement is needed."""

from __future__ import annotations

import pytest

from neat.engine.distributed import any_rank
from neat.engine.errors import SpecError
from neat.engine.spec import RunSpec


@pytest.mark.parametrize("value", [0, -1, 17])
def test_num_devices_out_of_range_names_the_field(value):
    spec = RunSpec.from_dict({"training": {"num_devices": value}})
    with pytest.raises(SpecError) as info:
        spec.validate()
    assert [e.field for e in info.value.errors] == ["training.num_devices"]
    assert "between 1 and 16" in str(info.value)


def test_num_devices_round_trips_and_defaults_to_one():
    assert RunSpec().training.num_devices == 1
    spec = RunSpec.from_yaml("training:\n  num_devices: 4\n").validate()
    assert spec.to_dict()["training"]["num_devices"] == 4
    assert "num_devices: 4" in spec.to_yaml()
    assert RunSpec.from_yaml(spec.to_yaml()) == spec
    with pytest.raises(SpecError, match="training.num_devices"):
        RunSpec.from_dict({"training": {"num_devices": "two"}})


def test_a_single_process_decides_alone():
    assert any_rank(True) is True and any_rank(False) is False
