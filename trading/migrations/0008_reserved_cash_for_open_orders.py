"""Cash held back by open paper BUY orders (docs/paper-trading.md, "Reserved cash").

trades.reserved_cash is what one open order holds back; portfolios.reserved_cash is their sum,
kept by the database: an AFTER trigger on trades moves every change of a trade's reservation
onto its portfolio, a BEFORE trigger on trades zeroes the reservation of an order that is no
longer open (filled, cancelled, expired, failed: whoever closes it), and a BEFORE trigger on
portfolios ignores any direct write of reserved_cash (a stale Portfolio saved whole, an UPDATE
by hand), so only the trades trigger moves it. The CHECK paper_cash_covers_reserved then refuses
any write that spends reserved cash. The SQL is frozen here, not shared with a helper.
"""

from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

RESERVATION_TRIGGERS = """
CREATE FUNCTION trades_reservation_ends_with_the_order() RETURNS trigger AS $$
BEGIN
    IF NEW.status IS NULL OR NEW.status NOT IN ('pending', 'submitted', 'partial') THEN
        NEW.reserved_cash := 0;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trades_reservation_ends_with_the_order
BEFORE INSERT OR UPDATE ON trades
FOR EACH ROW EXECUTE FUNCTION trades_reservation_ends_with_the_order();

CREATE FUNCTION portfolios_reserved_cash_follows_trades() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.portfolio_id = NEW.portfolio_id THEN
        IF NEW.reserved_cash <> OLD.reserved_cash THEN
            UPDATE portfolios SET reserved_cash = reserved_cash + NEW.reserved_cash - OLD.reserved_cash
            WHERE id = NEW.portfolio_id;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.reserved_cash <> 0 THEN
        UPDATE portfolios SET reserved_cash = reserved_cash - OLD.reserved_cash
        WHERE id = OLD.portfolio_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.reserved_cash <> 0 THEN
        UPDATE portfolios SET reserved_cash = reserved_cash + NEW.reserved_cash
        WHERE id = NEW.portfolio_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER portfolios_reserved_cash_follows_trades
AFTER INSERT OR UPDATE OR DELETE ON trades
FOR EACH ROW EXECUTE FUNCTION portfolios_reserved_cash_follows_trades();

-- Depth 1 is a statement on portfolios itself; the trades trigger's UPDATE runs deeper.
CREATE FUNCTION portfolios_reserved_cash_kept_by_trades() RETURNS trigger AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        IF TG_OP = 'INSERT' THEN
            NEW.reserved_cash := 0;
        ELSE
            NEW.reserved_cash := OLD.reserved_cash;
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER portfolios_reserved_cash_kept_by_trades
BEFORE INSERT OR UPDATE ON portfolios
FOR EACH ROW EXECUTE FUNCTION portfolios_reserved_cash_kept_by_trades();
"""

DROP_RESERVATION_TRIGGERS = """
DROP TRIGGER IF EXISTS portfolios_reserved_cash_kept_by_trades ON portfolios;
DROP FUNCTION IF EXISTS portfolios_reserved_cash_kept_by_trades();
DROP TRIGGER IF EXISTS portfolios_reserved_cash_follows_trades ON trades;
DROP FUNCTION IF EXISTS portfolios_reserved_cash_follows_trades();
DROP TRIGGER IF EXISTS trades_reservation_ends_with_the_order ON trades;
DROP FUNCTION IF EXISTS trades_reservation_ends_with_the_order();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('strategies', '0008_take_profit_capped_by_its_column'),
        ('trading', '0007_strategy_deployments_evaluated_close_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='portfolio',
            name='reserved_cash',
            field=models.DecimalField(db_default=Decimal('0'), decimal_places=2, default=Decimal('0'), editable=False, max_digits=15),
        ),
        migrations.AddField(
            model_name='trade',
            name='reserved_cash',
            field=models.DecimalField(db_default=Decimal('0'), decimal_places=2, default=Decimal('0'), editable=False, max_digits=15),
        ),
        migrations.AddConstraint(
            model_name='portfolio',
            constraint=models.CheckConstraint(condition=models.Q(('reserved_cash__gte', 0), models.Q(('is_paper', False), ('cash_balance__gte', models.F('reserved_cash')), _connector='OR')), name='paper_cash_covers_reserved', violation_error_message='The cash does not cover what the open orders reserve.'),
        ),
        migrations.AddConstraint(
            model_name='trade',
            constraint=models.CheckConstraint(condition=models.Q(('reserved_cash__gte', 0)), name='valid_order_reserved_cash'),
        ),
        # Orders open before this migration reserve nothing: they take what they need from the
        # available cash when they fill, as every order did before.
        migrations.RunSQL(RESERVATION_TRIGGERS, DROP_RESERVATION_TRIGGERS),
    ]
