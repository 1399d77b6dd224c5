"""Panel components of batteryviz: the dashboard and its parts (imported only when used)."""

from .app import AnalysisTab, Dashboard, create_app

__all__ = ["AnalysisTab", "Dashboard", "create_app"]
