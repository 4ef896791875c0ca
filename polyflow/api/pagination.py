from rest_framework.pagination import PageNumberPagination

from ..exceptions import InvalidInput


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}`; `?page=N&page_size=M` (at most 1000 a page).

    Both are whole numbers of at least 1, given at most once: `page_size=null`, `page_size=0`
    or a second `page=` is a 400 saying so, not silently the default (the schema says integer).
    A page size above 1000 is read as 1000.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        for name in ("page", "page_size"):
            _whole_number(request.query_params, name)
        return super().paginate_queryset(queryset, request, view)


def _whole_number(params, name: str) -> None:
    values = params.getlist(name)
    if not values:
        return
    problem = None
    if len(values) > 1:
        problem = f"given {len(values)} times: give it once"
    elif not values[0].isdigit() or int(values[0]) < 1:
        problem = f"{values[0]!r} is not a whole number of at least 1"
    if problem:
        raise InvalidInput(f"invalid query string: {name}: {problem}",
                           [{"source": "query", "path": name, "message": problem}])
