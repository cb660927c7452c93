"""The web side's part in the job life cycle: with no worker alive nobody else would notice a
dead job, so pages sweep too (at most once a minute per process; see jobs_sweep_if_due)."""

from classifier.services.jobs import jobs_sweep_if_due


def job_sweep_middleware(get_response):
    def middleware(request):
        jobs_sweep_if_due()
        return get_response(request)

    return middleware
