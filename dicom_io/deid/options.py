"""The options of the Basic Profile that RadLens implements: :class:`DeidOptions`.

Dates, by option: removed, emptied or dummied as the table says (default), kept (``keep_dates``:
Retain Longitudinal Temporal Information with Full Dates), or moved by a whole number of days
(``date_shift_days``: with Modified Dates; times are unchanged and the shift is not recorded).
The patient's birth date is emptied in every case.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_OPTIONS", "DeidOptions"]

_MAX_SHIFT_DAYS = 200 * 366
_CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
_CODE_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
_CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
_CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")


@dataclass(frozen=True)
class DeidOptions:
    """Options of the Basic Profile that RadLens implements.

    Attributes:
        keep_dates: keep dates and times (Retain Longitudinal Temporal Information with Full
            Dates Option). The patient's birth date is emptied whatever the option.
        date_shift_days: add this many days to every date (Retain Longitudinal Temporal
            Information with Modified Dates Option); times are kept. Use the same value for
            every study of one patient to keep intervals between them. Never recorded.
        keep_patient_characteristics: keep age, sex, size, weight and the like (Retain Patient
            Characteristics Option); free-text ones (allergies, patient state) are still removed.
    """

    keep_dates: bool = False
    date_shift_days: int | None = None
    keep_patient_characteristics: bool = False

    def __post_init__(self) -> None:
        shift = self.date_shift_days
        if shift is not None:
            if isinstance(shift, bool) or not isinstance(shift, int):
                raise TypeError(
                    f"Argument 'date_shift_days' must be an int or None, not {shift!r}."
                )
            if abs(shift) > _MAX_SHIFT_DAYS:
                raise ValueError(
                    f"Argument 'date_shift_days' must be within ±{_MAX_SHIFT_DAYS}, not {shift}."
                )
            if self.keep_dates:
                raise ValueError(
                    "Arguments 'keep_dates' and 'date_shift_days' exclude each other: "
                    "keep the dates or shift them."
                )

    @property
    def method_codes(self) -> list[tuple[str, str]]:
        """The De-identification Method codes (CID 7050) of the profile and options used."""
        codes = [_CODE_BASIC]
        if self.keep_dates:
            codes.append(_CODE_FULL_DATES)
        if self.date_shift_days is not None:
            codes.append(_CODE_MODIFIED_DATES)
        if self.keep_patient_characteristics:
            codes.append(_CODE_PATIENT_CHARACTERISTICS)
        return codes

    @property
    def method_text(self) -> list[str]:
        """De-identification Method (0012,0063): the profile and options, in words."""
        text = ["RadLens", "PS3.15 Basic Application Level Confidentiality Profile"]
        if self.keep_dates:
            text.append("Dates retained")
        elif self.date_shift_days is not None:
            text.append("Dates shifted")
        else:
            text.append("Dates removed")
        if self.keep_patient_characteristics:
            text.append("Patient characteristics retained")
        return text


DEFAULT_OPTIONS = DeidOptions()
