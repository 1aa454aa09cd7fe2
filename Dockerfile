# policyfacts: a slim, non-root image. Build: docker build -t policyfacts .
# With PostgreSQL's driver: docker build --build-arg EXTRAS=postgres -t policyfacts .
FROM python:3.11-slim AS build
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY migrations ./migrations
# The project's own dependencies (not the lock's test tools) at the lock's versions.
RUN sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' requirements.lock > /tmp/constraints.txt \
    && pip wheel --no-cache-dir -c /tmp/constraints.txt --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    POLICYFACTS_DATABASE_URL=sqlite:////data/policyfacts.db
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --create-home policyfacts
USER policyfacts
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["policyfacts"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
