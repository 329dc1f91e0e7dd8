from tests.i18n.catalogs import test_catalogs

__all__ = ["test_catalogs"]
