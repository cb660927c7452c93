import factory
from django.contrib.auth import get_user_model

from classifier.models import TrainingRun
from worker.config import TrainConfig


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


def tiny_config(**overrides) -> TrainConfig:
    """A run that trains in a couple of seconds on real data."""
    values = dict(preset="seed", epochs=2, batch_size=64, limit=512, val_size=200)
    values.update(overrides)
    return TrainConfig.for_preset(**values)


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    config = factory.LazyFunction(lambda: tiny_config().to_dict())
    preset = factory.LazyAttribute(lambda run: run.config["preset"])
    seed = factory.LazyAttribute(lambda run: run.config["seed"])
    created_by = factory.SubFactory(StaffFactory)
