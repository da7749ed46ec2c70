"""Make a synthetic daily store sales data set (fixed seed), add the features, and split it by time:
data/train.csv (the earlier days) and data/holdout.csv (the last `holdout_days` days).

The data is synthetic, shaped like the Rossmann store sales the seed describes: a few stores of three
types, each with its own level and competition; weekly seasonality (Mondays busy, Saturdays quieter, most
stores closed on Sundays); public holidays (closed); school holidays; promotions in store-specific weeks;
a mild yearly cycle, a December lift and multiplicative noise. No real store is in it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import FEATURES, HERE, TARGET, params

WEEKDAY = np.array([1.18, 1.02, 0.96, 0.97, 1.06, 0.88, 0.62])  # Monday .. Sunday
# Fixed-date public holidays (month, day); Easter-linked ones are listed per year below.
FIXED_HOLIDAYS = [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)]
MOVING_HOLIDAYS = ["2023-04-07", "2023-04-10", "2023-05-18", "2023-05-29", "2024-03-29", "2024-04-01",
                   "2024-05-09", "2024-05-20", "2025-04-18", "2025-04-21", "2025-05-29", "2025-06-09",
                   "2026-04-03", "2026-04-06", "2026-05-14", "2026-05-25"]
SCHOOL_HOLIDAYS = [("07-10", "08-20"), ("10-20", "10-31"), ("12-22", "12-31"), ("01-01", "01-05"),
                   ("03-25", "04-08")]


def _holidays(dates: pd.DatetimeIndex) -> np.ndarray:
    fixed = np.array([(d.month, d.day) in FIXED_HOLIDAYS for d in dates])
    moving = dates.isin(pd.to_datetime(MOVING_HOLIDAYS))
    return (fixed | moving).astype("int64")


def _school(dates: pd.DatetimeIndex) -> np.ndarray:
    md = dates.strftime("%m-%d")
    return np.any([(md >= a) & (md <= b) for a, b in SCHOOL_HOLIDAYS], axis=0).astype("int64")


def generate(stores: int, days: int, start: str, seed: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    holiday, school = _holidays(dates), _school(dates)
    dow = dates.day_of_week.to_numpy()
    yearly = 1 + 0.05 * np.sin(2 * np.pi * (dates.day_of_year.to_numpy() - 80) / 365.25)
    december = 1 + 0.18 * ((dates.month == 12) & (dates.day <= 23)).astype(float)
    frames = []
    for store in range(1, stores + 1):
        store_type = int(rng.integers(0, 3))
        level = rng.lognormal(np.log([5200, 7400, 3900][store_type]), 0.25)
        distance = float(np.round(rng.lognormal(np.log(2500), 0.9), -1))
        competition = 1 - 0.08 * np.exp(-distance / 2000)
        sunday_open = store_type == 1  # type-b stores (in stations) open on Sundays
        promo_offset = int(rng.integers(0, 2))
        promo_week = ((dates.isocalendar().week.to_numpy() + promo_offset) % 2 == 0)
        promo = (promo_week & (dow < 5) & (rng.random(days) < 0.95)).astype("int64")
        open_ = ((holiday == 0) & ((dow < 6) | sunday_open) & (rng.random(days) > 0.005)).astype("int64")
        lift = 1 + rng.uniform(0.15, 0.30) * promo + 0.06 * school
        mean = level * competition * WEEKDAY[dow] * yearly * december * lift
        sales = np.where(open_ == 1, np.round(mean * rng.lognormal(0, noise, days)), 0).astype("int64")
        frames.append(pd.DataFrame({
            "date": dates.strftime("%Y-%m-%d"), "store": store, "store_type": store_type,
            "competition_distance": distance, "open": open_, "promo": promo, "state_holiday": holiday,
            "school_holiday": school, TARGET: sales,
        }))
    return add_calendar(pd.concat(frames, ignore_index=True))


def add_calendar(frame: pd.DataFrame) -> pd.DataFrame:
    """The date as features a tree can split on (weekday, day, month, ISO week, day of the year)."""
    d = pd.to_datetime(frame["date"])
    frame = frame.copy()
    frame["day_of_week"] = d.dt.day_of_week.astype("int64")
    frame["day_of_month"] = d.dt.day.astype("int64")
    frame["month"] = d.dt.month.astype("int64")
    frame["week_of_year"] = d.dt.isocalendar().week.astype("int64")
    frame["day_of_year"] = d.dt.day_of_year.astype("int64")
    return frame[["date", *FEATURES, TARGET]]


def main() -> None:
    p = params("prepare")
    frame = generate(int(p["stores"]), int(p["days"]), str(p["start"]), int(p["seed"]), float(p["noise"]))
    dates = pd.to_datetime(frame["date"])
    cut = dates.max() - pd.Timedelta(days=int(p["holdout_days"]) - 1)  # time-based: the last days are held out
    out = HERE / "data"
    out.mkdir(exist_ok=True)
    frame[dates < cut].to_csv(out / "train.csv", index=False)
    frame[dates >= cut].to_csv(out / "holdout.csv", index=False)
    print(f"prepare: {int((dates < cut).sum())} train rows up to {(cut - pd.Timedelta(days=1)).date()}, "
          f"{int((dates >= cut).sum())} holdout rows from {cut.date()}, {p['stores']} stores")


if __name__ == "__main__":
    main()
