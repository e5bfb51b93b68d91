"""Stock, landed cost, cost of goods sold, valuation and the reorder trigger (issue 12).

* :mod:`.costing` - moving average and FIFO in plain Python (no database).
* :mod:`.stock` - stock movements: every change of quantity or value, keyed so nothing moves twice.
* :mod:`.landed` - import shipments: allocation of costs and receiving into stock.
* :mod:`.books` - the journal entries of stock (receipts, late costs, adjustments).
* :mod:`.sales` - what sales and refunds on the spine do to stock, and their COGS entry.
* :mod:`.valuation` - stock value at any date, reconciled to the inventory account.
* :mod:`.reorder` and :mod:`.notify` - the inventory threshold trigger.
"""
