FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY . .
RUN DEBUG=0 SECRET_KEY=build ENCRYPTION_KEYS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa= ALLOWED_HOSTS=build \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --no-input
ENV STATIC_ROOT=/app/staticfiles
RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /app/var && chown app /app/var
USER app

EXPOSE 8000
CMD ["python", "-m", "project.web", "-b", "0.0.0.0", "-p", "8000", "asgi:application"]
