from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from classifier.selectors.compare import runs_compare


@login_required
def runs_compare_view(request):
    """?runs=3&runs=5[&runs=...]: two or more runs side by side."""
    run_ids = [int(v) for v in request.GET.getlist("runs") if v.isdigit()]
    comparison = runs_compare(run_ids=run_ids) if len(set(run_ids)) >= 2 else None
    return render(request, "classifier/runs_compare.html", {
        "comparison": comparison, "run_ids": run_ids, "runs_query": urlencode([("runs", pk) for pk in run_ids])})
