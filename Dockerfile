# The bot in a container, installed with the README's own install command.
# Build and run with compose.yaml (docker compose up -d); .env stays outside the image.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 imagine-bot
# WORKDIR and VOLUME would create these as root; the venv, pip's build files and the
# database are written by the bot's user.
RUN install -d -o imagine-bot -g imagine-bot /app /app/data
WORKDIR /app
COPY --chown=imagine-bot:imagine-bot . .
USER imagine-bot
# EXTRAS="[postgres]" for several processes on PostgreSQL (deploy/compose.postgres.yaml).
ARG EXTRAS=""
RUN python3 -m venv .venv && .venv/bin/pip install -q ".${EXTRAS}"
# The database lives in a volume (compose.yaml); SIGINT stops it as Ctrl-C does.
VOLUME ["/app/data"]
STOPSIGNAL SIGINT
CMD [".venv/bin/python", "-m", "bot"]
