import datetime as dt

import pytest

from geo import ids


@pytest.mark.parametrize(
    ("first17", "check"),
    [("11010519491231002", "X"), ("15010219900307123", "7")],  # the standard's own example; STANDARDS.md
)
def test_check_char_matches_known_numbers(first17: str, check: str) -> None:
    assert ids.check_char(first17) == check


def test_parse_reads_region_birth_and_sex() -> None:
    p = ids.parse("150102199003071237")
    assert (p.region, p.birth_date, p.sex, p.upgraded_from_15) == ("150102", dt.date(1990, 3, 7), "男", False)
    assert ids.parse("11010519491231002X").sex == "女"


def test_parse_normalises_lower_case_x_and_full_width_digits() -> None:
    assert ids.parse("11010519491231002x").value == "11010519491231002X"
    assert ids.parse("１５０１０２１９９００３０７１２３７").value == "150102199003071237"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "id_missing"),
        ("15010219900307123", "id_format"),
        ("150102199003071238", "id_checksum"),
        ("15010219900231" + "123", "id_format"),
    ],
)
def test_parse_rejects_with_reason_code(raw: str, code: str) -> None:
    with pytest.raises(ids.InvalidIdNumber) as exc:
        ids.parse(raw)
    assert exc.value.code == code


def test_impossible_birth_date_is_rejected_even_with_a_valid_check_digit() -> None:
    first17 = "15010219900231123"
    with pytest.raises(ids.InvalidIdNumber, match="19900231") as exc:
        ids.parse(first17 + ids.check_char(first17))
    assert exc.value.code == "id_birth_date"


def test_future_birth_date_is_rejected() -> None:
    value = ids.make("150102", dt.date(2030, 1, 1), 11)
    with pytest.raises(ids.InvalidIdNumber) as exc:
        ids.parse(value, today=dt.date(2026, 11, 23))
    assert exc.value.code == "id_birth_date"


def test_legacy_15_digit_number_is_upgraded() -> None:
    p = ids.parse("150102900307123")
    assert p.value == "15010219900307123" + ids.check_char("15010219900307123")
    assert p.upgraded_from_15 and p.birth_date == dt.date(1990, 3, 7)


def test_make_round_trips_through_parse() -> None:
    v = ids.make("152601", dt.date(1961, 12, 31), 4)
    p = ids.parse(v)
    assert (p.region, p.birth_date, p.sex) == ("152601", dt.date(1961, 12, 31), "女")


def test_masks() -> None:
    assert ids.mask("150102199003071237") == "150102********1237"
    assert ids.mask_name("张三") == "张*"
    assert ids.mask_name("王小明") == "王*明"
    assert ids.mask_name("孟和巴雅尔") == "孟***尔"
    assert ids.mask_phone("13812345678") == "138****5678"
