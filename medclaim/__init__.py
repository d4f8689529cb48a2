"""medclaim — settle urban-rural resident medical-insurance claims through basic insurance, 大病 and medical assistance."""

__version__ = "0.1.0"
