"""``xr.open_dataset(path, engine="batteryviz")``: any file batteryviz reads, through xarray."""

from __future__ import annotations

from xarray.backends import BackendEntrypoint


class BatteryvizBackend(BackendEntrypoint):
    """xarray backend entry point wrapping :func:`batteryviz.read`."""

    description = (
        "Battery cycler files (BaSyTec, Arbin, BioLogic, Maccor, Neware, Novonix, BDF...) "
        "via batteryviz"
    )
    url = "https://github.com/batteryviz/batteryviz"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "format")

    def open_dataset(self, filename_or_obj, *, drop_variables=None, format=None):
        from .reading import read

        ds = read(filename_or_obj, format=format)
        if drop_variables:
            ds = ds.drop_vars(drop_variables, errors="ignore")
        return ds

    def guess_can_open(self, filename_or_obj) -> bool:
        try:
            from .registry import detect

            detect(filename_or_obj)
            return True
        except Exception:
            return False
