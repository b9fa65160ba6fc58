"""Plain ``nn.Module`` definitions. Nothing here touches files."""
