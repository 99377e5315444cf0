app_name = "liveblog"
urlpatterns: list = []
