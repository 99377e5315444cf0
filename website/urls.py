from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("learn/", views.learn, name="learn"),
    path("learn/source/<path:path>", views.learn_source, name="learn-source"),
    path("learn/<slug:chapter>/", views.learn, name="learn-chapter"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.login_guarded(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
